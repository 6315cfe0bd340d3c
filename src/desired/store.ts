import type { ManifestProblem } from "../errors.ts";
import type { CommitInfo, NewEvent, NewObject, ObjectPatch, Revision, StoredEvent, StoredObject, SyncState } from "./records.ts";
import type { DesiredObject } from "./types.ts";

export interface ApplySummary {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

/** One git-sourced object the sync put back to Git's version. */
export interface DriftRepair {
  kind: string;
  namespace: string;
  name: string;
  action: "reset" | "recreated" | "deleted";
}

export interface ApplyOptions {
  /**
   * A later stage of the same commit (sync waves): its changes are added to
   * those the commit's earlier stages recorded instead of replacing them.
   */
  appendChanges?: boolean;
  /**
   * Not the commit's last stage: the commit becomes live but is not recorded
   * as seen (lastSeenSha), so a sync restarted before the last stage applies
   * the commit again rather than leaving the later waves out.
   */
  partial?: boolean;
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
  /** The generation the controller has acted on, written to `observedGeneration` when given. */
  observedGeneration?: number;
}

export interface ObjectFilter {
  kind?: string;
  namespace?: string;
  source?: "git" | "controller";
  /** Only the dependents of this owner (a ReplicaSet's Pods, a Deployment's ReplicaSets). */
  ownerUid?: string;
  /**
   * true: only soft-deleted objects not yet purged, instead of live ones
   * (a node link finishing what a deletion left to do, see `finalizers`).
   */
  deleted?: boolean;
}

/**
 * `status.finalizers`, as Kubernetes' metadata.finalizers: while an object's
 * status lists any, its soft-deleted row is not purged by age; whoever owns
 * the finalizer does its work and then calls `purgeObject`.
 */
export const finalizersField = "finalizers";

export interface EventQuery {
  /** Default 50. */
  limit?: number;
  /**
   * The id of the last event of the previous page: the page continues after it
   * in the same order (an id no longer stored gives an empty page).
   */
  before?: number;
  kind?: string;
  namespace?: string;
  name?: string;
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
   *
   * An object that is no longer in Git but is annotated `capstan.dev/prune:
   * "false"` (`pruneAnnotation`) is not deleted: it stays live and untouched
   * (still git-sourced, its revisionSha that of the last commit that declared
   * it) and is not counted in `deleted`.
   */
  applyRevision(commit: CommitInfo, objects: DesiredObject[], warnings: ManifestProblem[], options?: ApplyOptions): Promise<ApplySummary>;
  /**
   * Puts the live git-sourced objects back to `objects` (the live revision's,
   * commit `sha`) where something other than the sync changed them: edited,
   * deleted or added behind capstan's back. Records no revision and starts no
   * rollout. Returns what it repaired; cheap when nothing drifted.
   */
  repairDrift(sha: string, objects: DesiredObject[]): Promise<DriftRepair[]>;
  /**
   * Whether repairDrift may have something to do, without reading Git: some
   * git-sourced object was edited outside the sync, or their number is not
   * `expectedCount`. False positives are allowed, false negatives not.
   */
  driftSuspected(expectedCount: number): Promise<boolean>;
  /** Records a commit that failed validation, with every problem; the live objects are untouched. */
  rejectRevision(commit: CommitInfo, problems: ManifestProblem[]): Promise<void>;
  /** Records commits that were seen but never applied because a newer one arrived in the same fetch. */
  supersedeRevisions(commits: CommitInfo[]): Promise<void>;

  getRevision(sha: string): Promise<Revision | null>;
  /** Newest first (by the time capstan saw them), `before` = an id to page from. */
  listRevisions(options?: { limit?: number; before?: number }): Promise<Revision[]>;

  /** The live object with this key, or null. */
  getObject(key: ObjectKey): Promise<StoredObject | null>;
  /** The live object with this uid, or null (also for a deleted incarnation or a malformed uid). */
  getObjectByUid(uid: string): Promise<StoredObject | null>;
  /** Live objects matching every given field, ordered by kind, namespace, name (byte order). */
  listObjects(filter?: ObjectFilter): Promise<StoredObject[]>;

  /**
   * Creates a controller-made object: source `controller`, generation 1,
   * observedGeneration 0, a new uid, `specHash` of its spec. Throws
   * ConflictError (reason `exists`) when a live object has the same key.
   */
  createObject(object: NewObject): Promise<StoredObject>;
  /**
   * Optimistic-concurrency update, as a Kubernetes update: replaces the given
   * fields (each whole) only if the live object's resourceVersion still equals
   * `expectedResourceVersion`; otherwise throws ConflictError (reason
   * `modified`: re-read and retry). Two writers holding the same version
   * cannot both win (two schedulers binding one Pod). A missing or deleted
   * object throws ObjectNotFoundError (a NotFoundError, not retried).
   *
   * generation is bumped only when the spec changes; an update that changes
   * nothing writes nothing (resourceVersion kept, nobody woken) and returns the
   * object. Works on git-sourced objects too; those stay git-sourced, and the
   * next commit that declares them writes Git's version back.
   */
  updateObject(key: ObjectKey, expectedResourceVersion: number, patch: ObjectPatch): Promise<StoredObject>;
  /**
   * Soft-deletes the live object (deletedAt set; the row is kept for
   * controllers and node links to see the deletion until `purgeDeleted`).
   * With `uid`, only that incarnation. True when an object was deleted.
   */
  deleteObject(key: ObjectKey, options?: { uid?: string }): Promise<boolean>;
  /** Removes for good the soft-deleted objects deleted before `before`, except those whose status lists finalizers; returns how many. */
  purgeDeleted(before: Date): Promise<number>;
  /** Removes for good one soft-deleted object (its finalizer's work done), whatever its age; false when there is none with that uid. */
  purgeObject(uid: string): Promise<boolean>;

  /**
   * Merges each patch into the object's `status` (top-level keys replace), in
   * one statement. An update naming a `uid` applies only to that incarnation
   * (a pod re-created under the same name must not inherit the old one's
   * status). `observedGeneration`, when given, is written alongside. Writes
   * that change nothing (status nor observedGeneration) are skipped, so they
   * wake nobody. Returns how many objects changed.
   */
  updateStatuses(updates: StatusUpdate[]): Promise<number>;

  /**
   * Records an event, folding repeats as Kubernetes' event correlator does:
   * the same (kind, namespace, name, type, reason, message, source) bumps
   * `count` and `lastTime` of one stored event; a repeat after more than an
   * hour of quiet restarts its count (and firstTime).
   */
  recordEvent(event: NewEvent): Promise<void>;
  /** Removes events last seen before `before` (Kubernetes keeps them an hour); returns how many. */
  purgeEvents(before: Date): Promise<number>;
  /** Events newest first (by lastTime, then id), filtered by the object's kind, namespace and name. */
  listEvents(options?: EventQuery): Promise<StoredEvent[]>;

  getSyncState(): Promise<SyncState | null>;
  /** Called after every fetch attempt: `error` null means the source answered. */
  recordFetch(result: { url: string; branch: string; path: string; at: Date; error: string | null; seenSha?: string }): Promise<void>;
}
