import type pg from "pg";
import { diffObjects, type ComparableObject, type ObjectChangeRecord } from "./object-diff.ts";
import { rolloutKinds, type HistoryEntry, type HistoryQuery, type Rollout, type RolloutLog, type WorkloadRef } from "./rollouts.ts";
import { revisionFromRow } from "./rows-pg.ts";

type Queryable = Pick<pg.Pool, "query"> | pg.PoolClient;

/**
 * Called inside applyRevision's transaction, after the object writes: stores
 * what the commit changed, starts a rollout for every changed workload (ending
 * the one it supersedes) and sets the revision's health. A commit that starts
 * no rollout is healthy at once.
 */
export async function recordRevisionRollouts(
  client: Queryable,
  sha: string,
  before: readonly ComparableObject[],
  after: readonly ComparableObject[],
  appendChanges = false,
): Promise<ObjectChangeRecord[]> {
  const changes = diffObjects(before, after);
  const workloads = changes.filter((change) => (rolloutKinds as readonly string[]).includes(change.kind));
  const started = workloads.filter((change) => change.change === "added" || change.fields.some((field) => field.path.startsWith("spec.")));
  const superseded = await client.query<{ revision_sha: string }>(
    `UPDATE rollouts SET outcome = 'superseded', finished_at = now(), reason = 'superseded by ' || $4
     FROM unnest($1::text[], $2::text[], $3::text[]) AS w(kind, namespace, name)
     WHERE rollouts.outcome = 'progressing' AND rollouts.kind = w.kind AND rollouts.namespace = w.namespace
       AND rollouts.name = w.name AND rollouts.revision_sha <> $4
     RETURNING rollouts.revision_sha`,
    [workloads.map((w) => w.kind), workloads.map((w) => w.namespace), workloads.map((w) => w.name), sha],
  );
  if (started.length > 0) {
    await client.query(
      `INSERT INTO rollouts (revision_sha, kind, namespace, name, object_uid, generation)
       SELECT $1, o.kind, o.namespace, o.name, o.uid, o.generation
       FROM objects o JOIN unnest($2::text[], $3::text[], $4::text[]) AS w(kind, namespace, name)
         ON o.kind = w.kind AND o.namespace = w.namespace AND o.name = w.name
       WHERE o.deleted_at IS NULL
       ON CONFLICT (kind, namespace, name) WHERE outcome = 'progressing' DO NOTHING`,
      [sha, started.map((w) => w.kind), started.map((w) => w.namespace), started.map((w) => w.name)],
    );
  }
  await client.query(`UPDATE revisions SET changes = CASE WHEN $3 THEN changes || $2::jsonb ELSE $2::jsonb END WHERE sha = $1`, [
    sha,
    JSON.stringify(changes),
    appendChanges,
  ]);
  await updateHealth(client, [sha, ...superseded.rows.map((row) => row.revision_sha)]);
  return changes;
}

/** Health of applied revisions from their rollouts: failed > progressing > superseded > healthy. */
async function updateHealth(client: Queryable, shas: string[]): Promise<void> {
  await client.query(
    `UPDATE revisions r SET health = CASE
       WHEN EXISTS (SELECT 1 FROM rollouts x WHERE x.revision_sha = r.sha AND x.outcome = 'failed') THEN 'failed'
       WHEN EXISTS (SELECT 1 FROM rollouts x WHERE x.revision_sha = r.sha AND x.outcome = 'progressing') THEN 'progressing'
       WHEN EXISTS (SELECT 1 FROM rollouts x WHERE x.revision_sha = r.sha AND x.outcome = 'superseded') THEN 'superseded'
       ELSE 'healthy' END
     WHERE r.sha = ANY($1::text[]) AND r.state = 'applied'`,
    [shas],
  );
}

export class PgRolloutLog implements RolloutLog {
  constructor(private readonly pool: pg.Pool) {}

  async history(options: HistoryQuery = {}): Promise<HistoryEntry[]> {
    const workload = options.workload;
    const revisions = await this.pool.query(
      `SELECT * FROM revisions r
       WHERE ($2::text IS NULL OR EXISTS (
         SELECT 1 FROM rollouts x WHERE x.revision_sha = r.sha AND x.kind = $2 AND x.namespace = $3 AND x.name = $4))
         AND ($5::text IS NULL OR left(r.sha, length($5)) = $5)
       ORDER BY id DESC LIMIT $1`,
      [options.limit ?? 50, workload?.kind ?? null, workload?.namespace ?? null, workload?.name ?? null, options.shaPrefix ?? null],
    );
    const shas = revisions.rows.map((row) => row.sha as string);
    const rollouts = await this.pool.query("SELECT * FROM rollouts WHERE revision_sha = ANY($1::text[]) ORDER BY id", [shas]);
    const bySha = new Map<string, Rollout[]>();
    for (const row of rollouts.rows) {
      const rollout = rolloutFromRow(row);
      if (workload && (rollout.kind !== workload.kind || rollout.namespace !== workload.namespace || rollout.name !== workload.name)) continue;
      bySha.set(rollout.revisionSha, [...(bySha.get(rollout.revisionSha) ?? []), rollout]);
    }
    return revisions.rows.map((row) => ({
      ...revisionFromRow(row),
      health: row.health ?? null,
      changes: row.changes ?? [],
      rollouts: bySha.get(row.sha) ?? [],
    }));
  }

  async progressing(workload: WorkloadRef): Promise<Rollout | null> {
    const result = await this.pool.query(
      "SELECT * FROM rollouts WHERE kind = $1 AND namespace = $2 AND name = $3 AND outcome = 'progressing'",
      [workload.kind, workload.namespace, workload.name],
    );
    return result.rows[0] ? rolloutFromRow(result.rows[0]) : null;
  }

  async get(id: number): Promise<Rollout | null> {
    const result = await this.pool.query("SELECT * FROM rollouts WHERE id = $1", [id]);
    return result.rows[0] ? rolloutFromRow(result.rows[0]) : null;
  }

  async finish(id: number, outcome: "complete" | "failed", reason: string | null, at: Date): Promise<boolean> {
    const result = await this.pool.query<{ revision_sha: string }>(
      `UPDATE rollouts SET outcome = $2, reason = $3, finished_at = $4 WHERE id = $1 AND outcome = 'progressing'
       RETURNING revision_sha`,
      [id, outcome, reason, at],
    );
    if (!result.rows[0]) return false;
    await updateHealth(this.pool, [result.rows[0].revision_sha]);
    return true;
  }

  async claimRevert(id: number): Promise<boolean> {
    const result = await this.pool.query("UPDATE rollouts SET reverted_by = '' WHERE id = $1 AND reverted_by IS NULL", [id]);
    return (result.rowCount ?? 0) > 0;
  }

  async markReverted(id: number, revertSha: string): Promise<boolean> {
    const result = await this.pool.query(
      "UPDATE rollouts SET reverted_by = $2 WHERE id = $1 AND (reverted_by IS NULL OR reverted_by = '')",
      [id, revertSha],
    );
    return (result.rowCount ?? 0) > 0;
  }
}

function rolloutFromRow(row: Record<string, any>): Rollout {
  return {
    id: Number(row.id),
    revisionSha: row.revision_sha,
    kind: row.kind,
    namespace: row.namespace,
    name: row.name,
    generation: Number(row.generation),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outcome: row.outcome,
    reason: row.reason,
    revertedBy: row.reverted_by || null,
  };
}
