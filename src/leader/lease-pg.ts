import type pg from "pg";
import type { LeaseOutcome } from "./election.ts";

/** The lease the control plane's replicas compete for (migrations/005_leader_lease.sql). */
export const controlPlaneLease = "control-plane";

/** The channel leader_lease_notify() announces hand-overs and releases on. */
export const leaderChannel = "capstan_leader";

type Queryable = Pick<pg.Pool, "query">;

export interface LeaseCandidate {
  lease: string;
  /** This replica's id, unique per process start. */
  replica: string;
  /** Where this replica serves its page and API. */
  url: string | null;
  leaseMs: number;
  /** The token this replica believes it holds; null when following. */
  heldToken: number | null;
}

/**
 * Acquire-or-renew as ONE statement, timed by the database's now() alone:
 * - renewal: we hold it with `heldToken` → renewed_at moves, token kept;
 * - acquisition: nobody holds it, its lease ran out, or it is ours from a term
 *   we lost track of (a step-down on the renew deadline) → we hold it, token + 1
 *   (this UPDATE changes the UNIQUE token column, so it takes FOR UPDATE and
 *   waits for the old leader's write transactions still under way; fence.ts);
 * - otherwise nothing changes and the statement returns the current holder.
 * Two replicas racing for an expired lease: the second's UPDATE waits for the
 * first, re-checks its WHERE against the new row, matches nothing, and sees
 * the winner.
 */
export async function tryAcquireOrRenew(db: Queryable, candidate: LeaseCandidate): Promise<LeaseOutcome> {
  const result = await db.query<{ mine: boolean; holder: string | null; holder_url: string | null; token: string; expires_in_ms: number }>(
    `WITH attempt AS (
       INSERT INTO leader_lease AS l (name, holder, holder_url, token, acquired_at, renewed_at, lease_ms)
       VALUES ($1, $2, $3, 1, now(), now(), $4)
       ON CONFLICT (name) DO UPDATE SET
         holder = excluded.holder,
         holder_url = excluded.holder_url,
         token = CASE WHEN l.holder = excluded.holder AND l.token = $5 THEN l.token ELSE l.token + 1 END,
         acquired_at = CASE WHEN l.holder = excluded.holder AND l.token = $5 THEN l.acquired_at ELSE now() END,
         renewed_at = now(),
         lease_ms = excluded.lease_ms
       WHERE l.holder = excluded.holder
          OR l.holder IS NULL
          OR l.renewed_at + l.lease_ms * interval '1 millisecond' <= now()
       RETURNING true AS mine, holder, holder_url, token, lease_ms::float8 AS expires_in_ms
     )
     SELECT * FROM attempt
     UNION ALL
     SELECT false, holder, holder_url, token,
            GREATEST(0, extract(epoch FROM renewed_at + lease_ms * interval '1 millisecond' - now()) * 1000)::float8
     FROM leader_lease WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM attempt)`,
    [candidate.lease, candidate.replica, candidate.url, candidate.leaseMs, candidate.heldToken],
  );
  const row = result.rows[0];
  // No row at all cannot happen (the INSERT either inserts or the row exists), but a
  // lease row another version of capstan left without a holder reads as free.
  if (!row) return { type: "failed", error: "lease row missing after acquire-or-renew" };
  if (row.mine) return { type: "mine", token: Number(row.token), url: row.holder_url };
  if (row.holder === null) return { type: "theirs", holder: "", url: null, token: Number(row.token), expiresInMs: 0 };
  return { type: "theirs", holder: row.holder, url: row.holder_url, token: Number(row.token), expiresInMs: Math.ceil(Number(row.expires_in_ms)) };
}

/**
 * Gives the lease up at once (on SIGTERM), so that a follower takes over
 * without waiting for it to run out. Only the term we hold: a release after
 * someone else took over changes nothing. The token stays, so that the next
 * acquisition still bumps it past every write of ours.
 */
export async function releaseLease(db: Queryable, lease: string, replica: string, token: number): Promise<boolean> {
  const result = await db.query("UPDATE leader_lease SET holder = NULL, holder_url = NULL WHERE name = $1 AND holder = $2 AND token = $3", [
    lease,
    replica,
    token,
  ]);
  return (result.rowCount ?? 0) > 0;
}
