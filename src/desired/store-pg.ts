import type pg from "pg";
import { withTransaction, type WriteGuard } from "../db/index.ts";
import { ConflictError, ObjectNotFoundError, type ManifestProblem } from "../errors.ts";
import { pruneAnnotation } from "./annotations.ts";
import { specHash } from "./canonical.ts";
import { insertEvent, selectEvents } from "./events-pg.ts";
import { comparableRows, insertObjects, planObjectWrites, updateObjects, type ObjectWrite } from "./object-writes-pg.ts";
import { upsertRevision } from "./revisions-pg.ts";
import { recordRevisionRollouts } from "./rollouts-pg.ts";
import { objectFromRow, revisionFromRow } from "./rows-pg.ts";
import { markLive, markSeen, selectSyncState, upsertFetch } from "./sync-state-pg.ts";
import type {
  CommitInfo,
  NewEvent,
  NewObject,
  ObjectPatch,
  Revision,
  StoredEvent,
  StoredObject,
  SyncState,
} from "./records.ts";
import { finalizersField, type ApplyOptions, type ApplySummary, type DesiredStore, type DriftRepair, type EventQuery, type ObjectFilter, type ObjectKey, type StatusUpdate } from "./store.ts";
import type { DesiredObject } from "./types.ts";

/** SQLSTATE 23505 unique_violation. */
const uniqueViolation = "23505";

/** Postgres refuses a malformed uuid with an error; the store's answer for one is "no such object". */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (value: string): boolean => uuidPattern.test(value);

/** Serialises writers of git-sourced objects (two control planes, or a sync racing a rollback). */
const SYNC_LOCK_KEY = 0x63617073; // "caps"

type Queryable = Pick<pg.Pool, "query"> | pg.PoolClient;

export interface PgDesiredStoreOptions {
  /**
   * Checked first in every write transaction (the leader's fencing token, with
   * several control planes); a refused check leaves everything unchanged.
   * Without one, single-statement writes run as one autocommitted statement.
   */
  writeGuard?: WriteGuard;
}

export class PgDesiredStore implements DesiredStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly options: PgDesiredStoreOptions = {},
  ) {}

  /** A write transaction, the guard's check first on the same connection. */
  #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const guard = this.options.writeGuard;
    return withTransaction(this.pool, async (client) => {
      if (guard) await guard.check(client);
      return work(client);
    });
  }

  /** A single-statement write: one round trip unguarded, a guarded transaction otherwise. */
  #write<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    return this.options.writeGuard ? this.#transaction(work) : work(this.pool);
  }

  async applyRevision(commit: CommitInfo, objects: DesiredObject[], warnings: ManifestProblem[], options: ApplyOptions = {}): Promise<ApplySummary> {
    return this.#transaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [SYNC_LOCK_KEY]);
      const plan = await planObjectWrites(client, objects);
      // What the commit changes is recorded against what was live, read before it is overwritten.
      const before = await comparableRows(client, [...plan.updates.map((write) => write.uid!), ...plan.deletes]);
      if (plan.creates.length > 0) await insertObjects(client, plan.creates, commit.sha);
      if (plan.updates.length > 0) await updateObjects(client, plan.updates, commit.sha);
      let deleted = 0;
      const kept = new Set<string>();
      if (plan.deletes.length > 0) {
        // The prune opt-out is read here, for the candidates only, rather than
        // with every live row's annotations in planObjectWrites.
        const result = await client.query<{ uid: string }>(
          `UPDATE objects SET deleted_at = now()
           WHERE uid = ANY($1::uuid[]) AND (annotations ->> $2) IS DISTINCT FROM 'false' RETURNING uid`,
          [plan.deletes, pruneAnnotation],
        );
        deleted = result.rowCount ?? 0;
        const gone = new Set(result.rows.map((row) => row.uid));
        for (const uid of plan.deletes) if (!gone.has(uid)) kept.add(uid);
      }
      await upsertRevision(client, commit, "applied", [], warnings, objects.length);
      const stillLive = before.filter((row) => !kept.has(row.uid));
      await recordRevisionRollouts(client, commit.sha, stillLive, [...plan.creates, ...plan.updates], options.appendChanges ?? false);
      await markLive(client, commit.sha, options.partial ?? false);
      return {
        created: plan.creates.length,
        updated: plan.updates.length,
        unchanged: plan.unchanged,
        deleted,
      };
    });
  }

  async repairDrift(sha: string, objects: DesiredObject[]): Promise<DriftRepair[]> {
    return this.#transaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [SYNC_LOCK_KEY]);
      const plan = await planObjectWrites(client, objects);
      const repairs: DriftRepair[] = [];
      const keyOfWrite = (write: ObjectWrite) => ({ kind: write.kind, namespace: write.namespace, name: write.name });
      if (plan.creates.length > 0) await insertObjects(client, plan.creates, sha);
      if (plan.updates.length > 0) await updateObjects(client, plan.updates, sha);
      for (const write of plan.creates) repairs.push({ ...keyOfWrite(write), action: "recreated" });
      for (const write of plan.updates) repairs.push({ ...keyOfWrite(write), action: "reset" });
      if (plan.deletes.length > 0) {
        const result = await client.query<DriftRepair>(
          `UPDATE objects SET deleted_at = now()
           WHERE uid = ANY($1::uuid[]) AND (annotations ->> $2) IS DISTINCT FROM 'false'
           RETURNING kind, namespace, name, 'deleted' AS action`,
          [plan.deletes, pruneAnnotation],
        );
        repairs.push(...result.rows);
      }
      return repairs;
    });
  }

  async driftSuspected(expectedCount: number): Promise<boolean> {
    // The trigger of migration 006 clears git_hash on any edit that is not the sync's own.
    const probe = await this.pool.query<{ live: string; edited: string }>(
      `SELECT count(*) AS live, count(*) FILTER (WHERE git_hash IS NULL) AS edited
       FROM objects WHERE source = 'git' AND deleted_at IS NULL`,
    );
    return Number(probe.rows[0]!.edited) > 0 || Number(probe.rows[0]!.live) !== expectedCount;
  }

  async rejectRevision(commit: CommitInfo, problems: ManifestProblem[]): Promise<void> {
    await this.#transaction(async (client) => {
      const errors = problems.filter((problem) => problem.severity === "error");
      const warnings = problems.filter((problem) => problem.severity === "warning");
      await upsertRevision(client, commit, "rejected", errors, warnings, null);
      await markSeen(client, commit.sha);
    });
  }

  async supersedeRevisions(commits: CommitInfo[]): Promise<void> {
    if (commits.length === 0) return;
    await this.#transaction(async (client) => {
      for (const commit of commits) await upsertRevision(client, commit, "superseded", [], [], null);
    });
  }

  async getRevision(sha: string): Promise<Revision | null> {
    const result = await this.pool.query("SELECT * FROM revisions WHERE sha = $1", [sha]);
    return result.rows[0] ? revisionFromRow(result.rows[0]) : null;
  }

  async listRevisions(options: { limit?: number; before?: number } = {}): Promise<Revision[]> {
    const result = await this.pool.query(
      `SELECT * FROM revisions WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2`,
      [options.before ?? null, options.limit ?? 50],
    );
    return result.rows.map(revisionFromRow);
  }

  async getObject(key: ObjectKey): Promise<StoredObject | null> {
    const result = await this.pool.query(
      "SELECT * FROM objects WHERE kind = $1 AND namespace = $2 AND name = $3 AND deleted_at IS NULL",
      [key.kind, key.namespace, key.name],
    );
    return result.rows[0] ? objectFromRow(result.rows[0]) : null;
  }

  async getObjectByUid(uid: string): Promise<StoredObject | null> {
    if (!isUuid(uid)) return null;
    const result = await this.pool.query("SELECT * FROM objects WHERE uid = $1 AND deleted_at IS NULL", [uid]);
    return result.rows[0] ? objectFromRow(result.rows[0]) : null;
  }

  async listObjects(filter: ObjectFilter = {}): Promise<StoredObject[]> {
    if (filter.ownerUid !== undefined && !isUuid(filter.ownerUid)) return [];
    const result = await this.pool.query(
      `SELECT * FROM objects
       WHERE (deleted_at IS NULL) = NOT $5::boolean
         AND ($1::text IS NULL OR kind = $1)
         AND ($2::text IS NULL OR namespace = $2)
         AND ($3::text IS NULL OR source = $3)
         AND ($4::uuid IS NULL OR owner_uid = $4)
       ORDER BY kind COLLATE "C", namespace COLLATE "C", name COLLATE "C"`,
      [filter.kind ?? null, filter.namespace ?? null, filter.source ?? null, filter.ownerUid ?? null, filter.deleted === true],
    );
    return result.rows.map(objectFromRow);
  }

  async createObject(object: NewObject): Promise<StoredObject> {
    try {
      const result = await this.#write((db) =>
        db.query(
          `INSERT INTO objects (kind, namespace, name, api_version, labels, annotations, spec, status, spec_hash,
                                owner_uid, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'controller')
           RETURNING *`,
          [
            object.kind,
            object.namespace,
            object.name,
            object.apiVersion,
            JSON.stringify(object.labels ?? {}),
            JSON.stringify(object.annotations ?? {}),
            JSON.stringify(object.spec),
            JSON.stringify(object.status ?? {}),
            specHash(object.spec),
            object.ownerUid ?? null,
          ],
        ),
      );
      return objectFromRow(result.rows[0]);
    } catch (error) {
      const { code, constraint } = error as { code?: string; constraint?: string };
      if (code === uniqueViolation && constraint === "objects_live_key") {
        throw new ConflictError(object.kind, object.namespace, object.name, "exists");
      }
      throw error;
    }
  }

  async updateObject(key: ObjectKey, expectedResourceVersion: number, patch: ObjectPatch): Promise<StoredObject> {
    // The version check and the write are one statement: of two writers
    // holding the same version, the second re-checks the row the first wrote
    // (READ COMMITTED re-evaluates the WHERE clause) and matches nothing.
    // git_hash is cleared when something changes, so that the next commit
    // declaring the object writes Git's version back instead of skipping it.
    const result = await this.#write((db) =>
      db.query(
        `UPDATE objects SET
           labels = COALESCE($5::jsonb, labels), annotations = COALESCE($6::jsonb, annotations),
           spec = COALESCE($7::jsonb, spec), spec_hash = COALESCE($8::text, spec_hash),
           generation = generation + CASE WHEN spec_hash <> COALESCE($8::text, spec_hash) THEN 1 ELSE 0 END,
           owner_uid = CASE WHEN $9::boolean THEN $10::uuid ELSE owner_uid END,
           git_hash = NULL
         WHERE kind = $1 AND namespace = $2 AND name = $3 AND deleted_at IS NULL AND resource_version = $4
           AND (labels, annotations, spec, owner_uid) IS DISTINCT FROM
               (COALESCE($5::jsonb, labels), COALESCE($6::jsonb, annotations), COALESCE($7::jsonb, spec),
                CASE WHEN $9::boolean THEN $10::uuid ELSE owner_uid END)
         RETURNING *`,
        [
          key.kind,
          key.namespace,
          key.name,
          expectedResourceVersion,
          patch.labels === undefined ? null : JSON.stringify(patch.labels),
          patch.annotations === undefined ? null : JSON.stringify(patch.annotations),
          patch.spec === undefined ? null : JSON.stringify(patch.spec),
          patch.spec === undefined ? null : specHash(patch.spec),
          patch.ownerUid !== undefined,
          patch.ownerUid ?? null,
        ],
      ),
    );
    if (result.rows[0]) return objectFromRow(result.rows[0]);
    // Nothing written: a stale version, a missing object, or an update that changes nothing.
    const live = await this.getObject(key);
    if (!live) throw new ObjectNotFoundError(key.kind, key.namespace, key.name);
    if (live.resourceVersion !== expectedResourceVersion) throw new ConflictError(key.kind, key.namespace, key.name, "modified");
    return live;
  }

  async deleteObject(key: ObjectKey, options: { uid?: string } = {}): Promise<boolean> {
    if (options.uid !== undefined && !isUuid(options.uid)) return false;
    const result = await this.#write((db) =>
      db.query(
        `UPDATE objects SET deleted_at = now()
         WHERE kind = $1 AND namespace = $2 AND name = $3 AND deleted_at IS NULL AND ($4::uuid IS NULL OR uid = $4)`,
        [key.kind, key.namespace, key.name, options.uid ?? null],
      ),
    );
    return (result.rowCount ?? 0) > 0;
  }

  async purgeEvents(before: Date): Promise<number> {
    const result = await this.#write((db) => db.query("DELETE FROM events WHERE last_time < $1", [before]));
    return result.rowCount ?? 0;
  }

  async purgeDeleted(before: Date): Promise<number> {
    const result = await this.#write((db) =>
      db.query(
        `DELETE FROM objects WHERE deleted_at < $1
           AND CASE WHEN jsonb_typeof(status->'${finalizersField}') = 'array' THEN jsonb_array_length(status->'${finalizersField}') = 0 ELSE true END`,
        [before],
      ),
    );
    return result.rowCount ?? 0;
  }

  async purgeObject(uid: string): Promise<boolean> {
    if (!isUuid(uid)) return false;
    const result = await this.#write((db) => db.query("DELETE FROM objects WHERE uid = $1 AND deleted_at IS NOT NULL", [uid]));
    return (result.rowCount ?? 0) > 0;
  }

  async updateStatuses(updates: StatusUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    const result = await this.#write((db) =>
      db.query(
        `UPDATE objects o SET status = o.status || u.patch,
           observed_generation = COALESCE(u.observed_generation, o.observed_generation), updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::jsonb[], $6::bigint[])
              AS u(kind, namespace, name, uid, patch, observed_generation)
         WHERE o.kind = u.kind AND o.namespace = u.namespace AND o.name = u.name AND o.deleted_at IS NULL
           AND (u.uid IS NULL OR o.uid = u.uid)
           AND (o.status IS DISTINCT FROM o.status || u.patch
                OR o.observed_generation IS DISTINCT FROM COALESCE(u.observed_generation, o.observed_generation))`,
        [
          updates.map((update) => update.key.kind),
          updates.map((update) => update.key.namespace),
          updates.map((update) => update.key.name),
          updates.map((update) => update.uid ?? null),
          updates.map((update) => JSON.stringify(update.status)),
          updates.map((update) => update.observedGeneration ?? null),
        ],
      ),
    );
    return result.rowCount ?? 0;
  }

  async recordEvent(event: NewEvent): Promise<void> {
    await this.#write((db) => insertEvent(db, event));
  }

  async listEvents(options: EventQuery = {}): Promise<StoredEvent[]> {
    return selectEvents(this.pool, options);
  }

  async getSyncState(): Promise<SyncState | null> {
    return selectSyncState(this.pool);
  }

  async recordFetch(result: { url: string; branch: string; path: string; at: Date; error: string | null }): Promise<void> {
    await this.#write((db) => upsertFetch(db, result));
  }
}
