import { randomUUID } from "node:crypto";
import { ConflictError, ObjectNotFoundError, type ManifestProblem } from "../errors.ts";
import { pruneAnnotation } from "./annotations.ts";
import { canonicalJson, specHash } from "./canonical.ts";
import { MemoryEventLog } from "./events-memory.ts";
import type {
  CommitInfo,
  NewEvent,
  NewObject,
  ObjectPatch,
  Revision,
  RevisionState,
  StoredEvent,
  StoredObject,
  SyncState,
} from "./records.ts";
import { finalizersField, type ApplyOptions, type ApplySummary, type DesiredStore, type DriftRepair, type EventQuery, type ObjectFilter, type ObjectKey, type StatusUpdate } from "./store.ts";
import type { DesiredObject } from "./types.ts";

/**
 * The in-memory DesiredStore, for logic tests and the scale benchmark. It is
 * held to the same test suite as the PostgreSQL store, so it cannot drift.
 */
export class MemoryDesiredStore implements DesiredStore {
  private readonly revisions = new Map<string, Revision>();
  private readonly objects: StoredObject[] = [];
  private readonly events = new MemoryEventLog();
  private syncState: SyncState | null = null;
  private nextRevisionId = 1;
  private resourceVersion = 0;

  async applyRevision(commit: CommitInfo, objects: DesiredObject[], warnings: ManifestProblem[], options: ApplyOptions = {}): Promise<ApplySummary> {
    const { summary } = this.writeGitObjects(commit, objects);
    this.upsertRevision(commit, "applied", [], warnings, objects.length);
    const state = this.syncStateOrEmpty();
    this.syncState = { ...state, liveSha: commit.sha, lastSeenSha: options.partial ? state.lastSeenSha : commit.sha };
    return summary;
  }

  async repairDrift(sha: string, objects: DesiredObject[]): Promise<DriftRepair[]> {
    return this.writeGitObjects({ sha }, objects).repairs;
  }

  /** In memory, comparing everything is as cheap as any probe: always worth a look. */
  async driftSuspected(_expectedCount: number): Promise<boolean> {
    return true;
  }

  /** Makes the live git-sourced objects equal `objects`; what applyRevision and repairDrift share. */
  private writeGitObjects(commit: { sha: string }, objects: DesiredObject[]): { summary: ApplySummary; repairs: DriftRepair[] } {
    const summary: ApplySummary = { created: 0, updated: 0, unchanged: 0, deleted: 0 };
    const repairs: DriftRepair[] = [];
    const about = (row: { kind: string; namespace: string; name: string }) => ({ kind: row.kind, namespace: row.namespace, name: row.name });
    const now = new Date();
    const wanted = new Set<string>();
    for (const object of objects) {
      wanted.add(keyString(object));
      const hash = specHash(object.spec);
      const live = this.live().find((row) => keyString(row) === keyString(object));
      if (!live) {
        this.objects.push({
          uid: randomUUID(),
          apiVersion: object.apiVersion,
          kind: object.kind,
          namespace: object.namespace,
          name: object.name,
          labels: structuredClone(object.labels),
          annotations: structuredClone(object.annotations),
          spec: structuredClone(object.spec),
          status: {},
          generation: 1,
          observedGeneration: 0,
          specHash: hash,
          resourceVersion: ++this.resourceVersion,
          ownerUid: null,
          source: "git",
          revisionSha: commit.sha,
          sourceFile: object.source.file,
          sourceLine: object.source.line,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
        summary.created++;
        repairs.push({ ...about(object), action: "recreated" });
        continue;
      }
      const same =
        live.source === "git" &&
        live.specHash === hash &&
        live.apiVersion === object.apiVersion &&
        live.sourceFile === object.source.file &&
        live.sourceLine === object.source.line &&
        canonicalJson(live.labels) === canonicalJson(object.labels) &&
        canonicalJson(live.annotations) === canonicalJson(object.annotations);
      if (same) {
        summary.unchanged++;
        continue;
      }
      if (live.specHash !== hash) live.generation++;
      Object.assign(live, {
        apiVersion: object.apiVersion,
        labels: structuredClone(object.labels),
        annotations: structuredClone(object.annotations),
        spec: structuredClone(object.spec),
        specHash: hash,
        source: "git",
        revisionSha: commit.sha,
        sourceFile: object.source.file,
        sourceLine: object.source.line,
        resourceVersion: ++this.resourceVersion,
        updatedAt: now,
      });
      summary.updated++;
      repairs.push({ ...about(object), action: "reset" });
    }
    for (const row of this.live()) {
      if (row.source === "git" && !wanted.has(keyString(row)) && row.annotations[pruneAnnotation] !== "false") {
        row.deletedAt = now;
        row.resourceVersion = ++this.resourceVersion;
        summary.deleted++;
        repairs.push({ ...about(row), action: "deleted" });
      }
    }
    return { summary, repairs };
  }

  async rejectRevision(commit: CommitInfo, problems: ManifestProblem[]): Promise<void> {
    const errors = problems.filter((problem) => problem.severity === "error");
    const warnings = problems.filter((problem) => problem.severity === "warning");
    this.upsertRevision(commit, "rejected", errors, warnings, null);
    this.syncState = { ...this.syncStateOrEmpty(), lastSeenSha: commit.sha };
  }

  async supersedeRevisions(commits: CommitInfo[]): Promise<void> {
    for (const commit of commits) this.upsertRevision(commit, "superseded", [], [], null);
  }

  async getRevision(sha: string): Promise<Revision | null> {
    const revision = this.revisions.get(sha);
    return revision ? structuredClone(revision) : null;
  }

  async listRevisions(options: { limit?: number; before?: number } = {}): Promise<Revision[]> {
    return [...this.revisions.values()]
      .filter((revision) => options.before === undefined || revision.id < options.before)
      .sort((a, b) => b.id - a.id)
      .slice(0, options.limit ?? 50)
      .map((revision) => structuredClone(revision));
  }

  async getObject(key: ObjectKey): Promise<StoredObject | null> {
    const row = this.live().find((object) => keyString(object) === keyString(key));
    return row ? structuredClone(row) : null;
  }

  async getObjectByUid(uid: string): Promise<StoredObject | null> {
    const row = this.live().find((object) => object.uid === uid);
    return row ? structuredClone(row) : null;
  }

  async listObjects(filter: ObjectFilter = {}): Promise<StoredObject[]> {
    return this.objects
      .filter((row) => (row.deletedAt !== null) === (filter.deleted === true))
      .filter((row) => filter.kind === undefined || row.kind === filter.kind)
      .filter((row) => filter.namespace === undefined || row.namespace === filter.namespace)
      .filter((row) => filter.source === undefined || row.source === filter.source)
      .filter((row) => filter.ownerUid === undefined || row.ownerUid === filter.ownerUid)
      .sort((a, b) => compare(a.kind, b.kind) || compare(a.namespace, b.namespace) || compare(a.name, b.name))
      .map((row) => structuredClone(row));
  }

  async createObject(object: NewObject): Promise<StoredObject> {
    if (this.findLive(object)) throw new ConflictError(object.kind, object.namespace, object.name, "exists");
    const now = new Date();
    const row: StoredObject = {
      uid: randomUUID(),
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: object.namespace,
      name: object.name,
      labels: structuredClone(object.labels ?? {}),
      annotations: structuredClone(object.annotations ?? {}),
      spec: structuredClone(object.spec),
      status: structuredClone(object.status ?? {}),
      generation: 1,
      observedGeneration: 0,
      specHash: specHash(object.spec),
      resourceVersion: ++this.resourceVersion,
      ownerUid: object.ownerUid ?? null,
      source: "controller",
      revisionSha: null,
      sourceFile: null,
      sourceLine: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    this.objects.push(row);
    return structuredClone(row);
  }

  async updateObject(key: ObjectKey, expectedResourceVersion: number, patch: ObjectPatch): Promise<StoredObject> {
    const row = this.findLive(key);
    if (!row) throw new ObjectNotFoundError(key.kind, key.namespace, key.name);
    if (row.resourceVersion !== expectedResourceVersion) throw new ConflictError(key.kind, key.namespace, key.name, "modified");
    const labels = patch.labels ?? row.labels;
    const annotations = patch.annotations ?? row.annotations;
    const spec = patch.spec ?? row.spec;
    const ownerUid = patch.ownerUid === undefined ? row.ownerUid : patch.ownerUid;
    const unchanged =
      canonicalJson(labels) === canonicalJson(row.labels) &&
      canonicalJson(annotations) === canonicalJson(row.annotations) &&
      canonicalJson(spec) === canonicalJson(row.spec) &&
      ownerUid === row.ownerUid;
    if (unchanged) return structuredClone(row);
    const hash = specHash(spec);
    if (hash !== row.specHash) row.generation++;
    Object.assign(row, {
      labels: structuredClone(labels),
      annotations: structuredClone(annotations),
      spec: structuredClone(spec),
      specHash: hash,
      ownerUid,
      resourceVersion: ++this.resourceVersion,
      updatedAt: new Date(),
    });
    return structuredClone(row);
  }

  async deleteObject(key: ObjectKey, options: { uid?: string } = {}): Promise<boolean> {
    const row = this.findLive(key);
    if (!row || (options.uid !== undefined && row.uid !== options.uid)) return false;
    row.deletedAt = new Date();
    row.resourceVersion = ++this.resourceVersion;
    return true;
  }

  async purgeEvents(before: Date): Promise<number> {
    return this.events.purge(before);
  }

  async purgeDeleted(before: Date): Promise<number> {
    let purged = 0;
    for (let index = this.objects.length - 1; index >= 0; index--) {
      const { deletedAt, status } = this.objects[index]!;
      const finalizers = status[finalizersField];
      if (Array.isArray(finalizers) && finalizers.length > 0) continue;
      if (deletedAt !== null && deletedAt.getTime() < before.getTime()) {
        this.objects.splice(index, 1);
        purged++;
      }
    }
    return purged;
  }

  async purgeObject(uid: string): Promise<boolean> {
    const index = this.objects.findIndex((row) => row.uid === uid && row.deletedAt !== null);
    if (index === -1) return false;
    this.objects.splice(index, 1);
    return true;
  }

  async updateStatuses(updates: StatusUpdate[]): Promise<number> {
    let changed = 0;
    for (const update of updates) {
      const row = this.findLive(update.key);
      if (!row || (update.uid !== undefined && row.uid !== update.uid)) continue;
      const next = { ...row.status, ...structuredClone(update.status) };
      const observedGeneration = update.observedGeneration ?? row.observedGeneration;
      if (canonicalJson(next) === canonicalJson(row.status) && observedGeneration === row.observedGeneration) continue;
      row.status = next;
      row.observedGeneration = observedGeneration;
      row.updatedAt = new Date();
      row.resourceVersion = ++this.resourceVersion;
      changed += 1;
    }
    return changed;
  }

  async recordEvent(event: NewEvent): Promise<void> {
    this.events.record(event);
  }

  async listEvents(options: EventQuery = {}): Promise<StoredEvent[]> {
    return this.events.list(options);
  }

  async getSyncState(): Promise<SyncState | null> {
    return this.syncState ? structuredClone(this.syncState) : null;
  }

  async recordFetch(result: { url: string; branch: string; path: string; at: Date; error: string | null }): Promise<void> {
    const previous = this.syncStateOrEmpty();
    this.syncState = {
      ...previous,
      url: result.url,
      branch: result.branch,
      path: result.path,
      lastFetchAt: result.at,
      lastSuccessAt: result.error === null ? result.at : previous.lastSuccessAt,
      lastError: result.error,
      unreachableSince: result.error === null ? null : (previous.unreachableSince ?? result.at),
    };
  }

  private live(): StoredObject[] {
    return this.objects.filter((row) => row.deletedAt === null);
  }

  private findLive(key: ObjectKey): StoredObject | undefined {
    return this.objects.find((row) => row.deletedAt === null && keyString(row) === keyString(key));
  }

  private syncStateOrEmpty(): SyncState {
    return (
      this.syncState ?? {
        url: "",
        branch: "",
        path: "",
        lastFetchAt: null,
        lastSuccessAt: null,
        lastError: null,
        unreachableSince: null,
        liveSha: null,
        lastSeenSha: null,
      }
    );
  }

  private upsertRevision(
    commit: CommitInfo,
    state: RevisionState,
    errors: ManifestProblem[],
    warnings: ManifestProblem[],
    objectCount: number | null,
  ): void {
    const previous = this.revisions.get(commit.sha);
    const now = new Date();
    this.revisions.set(commit.sha, {
      ...structuredClone(commit),
      id: previous?.id ?? this.nextRevisionId++,
      state,
      errors,
      warnings,
      objectCount,
      seenAt: now,
      appliedAt: state === "applied" ? now : (previous?.appliedAt ?? null),
    });
  }
}

function keyString(key: ObjectKey): string {
  return `${key.kind}\u0000${key.namespace}\u0000${key.name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
