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
 * One attempt, as ONE statement timed by the database's now() alone: a
 * renewal when we believe we hold the lease (`heldToken`), else an
 * acquisition. Either returns what it found when it changed nothing.
 */
export async function tryAcquireOrRenew(db: Queryable, candidate: LeaseCandidate): Promise<LeaseOutcome> {
  let result = candidate.heldToken === null ? await firstAttemptOrAgain(db, candidate) : await renew(db, candidate, candidate.heldToken);
  // Two first acquisitions at once: the loser's INSERT waits for the winner's and then updates nothing, and the
  // winner's row, committed after this statement's snapshot was taken, is invisible to its SELECT. A second
  // statement sees it.
  if (!result.rows[0] && candidate.heldToken === null) result = await acquire(db, candidate);
  const row = result.rows[0];
  // No row after that means the row was deleted by hand (or, after a renewal, is gone).
  if (!row) return { type: "failed", error: `lease ${candidate.lease} has no row` };
  if (row.mine) return { type: "mine", token: Number(row.token), url: row.holder_url };
  // A released lease (no holder) is free now, whatever its old renewal time says.
  const expiresInMs = row.holder === null ? 0 : Math.ceil(Number(row.expires_in_ms));
  return { type: "theirs", holder: row.holder ?? "", url: row.holder_url, token: Number(row.token), expiresInMs };
}

/** SQLSTATE unique_violation. */
const uniqueViolation = "23505";

/**
 * An acquisition, asked again once when it collides with another replica's
 * first INSERT of the same lease: ON CONFLICT arbitrates on the name only, so
 * the concurrent insert can surface as a violation of the (name, token) key
 * instead of as a conflict. By the second statement the row exists, and the
 * ordinary take-over rules decide.
 */
async function firstAttemptOrAgain(db: Queryable, candidate: LeaseCandidate) {
  try {
    return await acquire(db, candidate);
  } catch (error) {
    if ((error as { code?: string }).code !== uniqueViolation) throw error;
    return acquire(db, candidate);
  }
}

interface AttemptRow {
  mine: boolean;
  holder: string | null;
  holder_url: string | null;
  token: string;
  expires_in_ms: number;
}

/**
 * The current holder, for an attempt that changed nothing; `expires_in_ms` by the database's clock, at most one
 * lease: now() is the statement's start, which may precede a renewal it waited for.
 */
const currentHolder = `SELECT false, holder, holder_url, token,
         LEAST(lease_ms, GREATEST(0, extract(epoch FROM renewed_at + lease_ms * interval '1 millisecond' - now()) * 1000))::float8
       FROM leader_lease WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM attempt)`;

/**
 * Takes the lease when nobody holds it, its lease ran out, or it is ours from
 * a term we lost track of (a step-down on the renew deadline), and bumps the
 * token. Assigning the token (a key column) makes ON CONFLICT lock the row
 * FOR UPDATE, so the acquisition waits for the old leader's write
 * transactions still under way (fence.ts). Two replicas racing for a run-out
 * lease: the second waits for the first, re-checks its WHERE against the new
 * row, matches nothing, and sees the winner.
 */
function acquire(db: Queryable, candidate: LeaseCandidate) {
  return db.query<AttemptRow>(
    `WITH attempt AS (
       INSERT INTO leader_lease AS l (name, holder, holder_url, token, acquired_at, renewed_at, lease_ms)
       VALUES ($1, $2, $3, 1, now(), now(), $4)
       ON CONFLICT (name) DO UPDATE SET
         holder = excluded.holder, holder_url = excluded.holder_url, token = l.token + 1,
         acquired_at = now(), renewed_at = now(), lease_ms = excluded.lease_ms
       WHERE l.holder = excluded.holder
          OR l.holder IS NULL
          OR l.renewed_at + l.lease_ms * interval '1 millisecond' <= now()
       RETURNING true AS mine, holder, holder_url, token, lease_ms::float8 AS expires_in_ms
     )
     SELECT * FROM attempt UNION ALL ${currentHolder}`,
    [candidate.lease, candidate.replica, candidate.url, candidate.leaseMs],
  );
}

/**
 * Extends our own term. A plain UPDATE that leaves the token alone locks the
 * row only FOR NO KEY UPDATE, so it never waits for our own write
 * transactions holding FOR KEY SHARE; a renewal held up behind a long
 * applyRevision could otherwise miss its deadline. Renews even a lease that
 * ran out, as long as nobody took it: the term, and the token, are unchanged.
 */
function renew(db: Queryable, candidate: LeaseCandidate, heldToken: number) {
  return db.query<AttemptRow>(
    `WITH attempt AS (
       UPDATE leader_lease SET renewed_at = now(), holder_url = $3, lease_ms = $4
       WHERE name = $1 AND holder = $2 AND token = $5
       RETURNING true AS mine, holder, holder_url, token, lease_ms::float8 AS expires_in_ms
     )
     SELECT * FROM attempt UNION ALL ${currentHolder}`,
    [candidate.lease, candidate.replica, candidate.url, candidate.leaseMs, heldToken],
  );
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
