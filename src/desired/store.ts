import type { ManifestProblem } from "../errors.ts";
import type { CommitInfo, Revision, StoredObject, SyncState } from "./records.ts";
import type { DesiredObject } from "./types.ts";

export interface ApplySummary {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export interface ObjectKey {
  kind: string;
  namespace: string;
  name: string;
}

export interface StatusUpdate {
  key: ObjectKey;
  uid?: string;
  status: Record<string, unknown>;
}

/**
 * The desired-state store (house style 7): one interface, a PostgreSQL
 * implementation and an in-memory fake, both held to one shared test suite.
 */
export interface DesiredStore {
  /**
   * Applies a validated commit in ONE transaction: records the revision as
   * applied and live, and makes the live git-sourced objects equal `objects`
   * (create, update — generation bumped only when the spec changed — and delete
   * those no longer in Git). Nothing changes if any step fails.
   */
  applyRevision(commit: CommitInfo, objects: DesiredObject[], warnings: ManifestProblem[]): Promise<ApplySummary>;
  /** Records a commit that failed validation, with every problem; the live objects are untouched. */
  rejectRevision(commit: CommitInfo, problems: ManifestProblem[]): Promise<void>;
  /** Records commits that were seen but never applied because a newer one arrived in the same fetch. */
  supersedeRevisions(commits: CommitInfo[]): Promise<void>;

  getRevision(sha: string): Promise<Revision | null>;
  /** Newest first (by the time capstan saw them), `before` = an id to page from. */
  listRevisions(options?: { limit?: number; before?: number }): Promise<Revision[]>;

  getObject(key: ObjectKey): Promise<StoredObject | null>;
  listObjects(filter?: { kind?: string; namespace?: string; source?: "git" | "controller" }): Promise<StoredObject[]>;

  /**
   * Merges each patch into the object's `status` (top-level keys replace), in
   * one statement. An update naming a `uid` applies only to that incarnation
   * (a pod re-created under the same name must not inherit the old one's
   * status). Writes that change nothing are skipped, so they wake nobody.
   * Returns how many objects changed.
   */
  updateStatuses(updates: StatusUpdate[]): Promise<number>;

  getSyncState(): Promise<SyncState | null>;
  /** Called after every fetch attempt: `error` null means the source answered. */
  recordFetch(result: { url: string; branch: string; path: string; at: Date; error: string | null; seenSha?: string }): Promise<void>;
}
