/**
 * The one sync_state row: what the last fetch found, which commit is live and
 * which was last seen. The store calls the writes with the client of its
 * fenced transaction or write.
 */
import type pg from "pg";
import type { SyncState } from "./records.ts";

type Queryable = Pick<pg.Pool, "query"> | pg.PoolClient;

export async function selectSyncState(db: Queryable): Promise<SyncState | null> {
  const result = await db.query("SELECT * FROM sync_state WHERE id = 'default'");
  const row = result.rows[0];
  if (!row) return null;
  return {
    url: row.url ?? "",
    branch: row.branch ?? "",
    path: row.path ?? "",
    lastFetchAt: row.last_fetch_at,
    lastSuccessAt: row.last_success_at,
    lastError: row.last_error,
    unreachableSince: row.unreachable_since,
    liveSha: row.live_sha,
    lastSeenSha: row.last_seen_sha,
  };
}

/** An applied commit becomes live; a partial apply (not the commit's last stage) leaves last_seen_sha as it was. */
export async function markLive(client: Queryable, sha: string, partial: boolean): Promise<void> {
  await client.query(
    `INSERT INTO sync_state (id, live_sha, last_seen_sha) VALUES ('default', $1, CASE WHEN $2 THEN NULL ELSE $1 END)
     ON CONFLICT (id) DO UPDATE SET live_sha = $1,
       last_seen_sha = CASE WHEN $2 THEN sync_state.last_seen_sha ELSE $1 END`,
    [sha, partial],
  );
}

/** A rejected commit is seen, so that it is not tried again, but the live commit stays. */
export async function markSeen(client: Queryable, sha: string): Promise<void> {
  await client.query(
    `INSERT INTO sync_state (id, last_seen_sha) VALUES ('default', $1)
     ON CONFLICT (id) DO UPDATE SET last_seen_sha = $1`,
    [sha],
  );
}

export async function upsertFetch(
  db: Queryable,
  result: { url: string; branch: string; path: string; at: Date; error: string | null },
): Promise<void> {
  // unreachable_since keeps the time of the first failure in a run of failures.
  await db.query(
    `INSERT INTO sync_state (id, url, branch, path, last_fetch_at, last_success_at, last_error, unreachable_since)
     VALUES ('default', $1, $2, $3, $4::timestamptz, CASE WHEN $5::text IS NULL THEN $4::timestamptz END, $5::text,
             CASE WHEN $5::text IS NOT NULL THEN $4::timestamptz END)
     ON CONFLICT (id) DO UPDATE SET
       url = excluded.url, branch = excluded.branch, path = excluded.path,
       last_fetch_at = excluded.last_fetch_at,
       last_success_at = COALESCE(excluded.last_success_at, sync_state.last_success_at),
       last_error = excluded.last_error,
       unreachable_since = CASE WHEN excluded.last_error IS NULL THEN NULL
                                ELSE COALESCE(sync_state.unreachable_since, excluded.unreachable_since) END`,
    [result.url, result.branch, result.path, result.at, result.error],
  );
}
