import type pg from "pg";
import type { WriteGuard } from "../db/index.ts";
import { LostLeadershipError } from "../errors.ts";

/**
 * The write guard of one leader term: every write transaction of the term's
 * components first reads the lease row FOR KEY SHARE and goes on only while
 * the token is still the term's.
 *
 * Why a row lock, and why that one. A plain read would race: the check could
 * pass, a follower acquire and start work, and our write commit after it.
 * With the lock, an acquisition (which changes the UNIQUE token column and so
 * needs FOR UPDATE on the row) waits until every write transaction holding
 * the lock has ended, and a write that starts after it sees the new token. So
 * no write of an old term commits after a new term has begun. FOR KEY SHARE
 * is the weakest lock that achieves this: the leader's own renewals (which
 * leave the token alone) never wait for its writes, nor its writes for each
 * other. A constraint trigger reading a per-transaction setting would cost the
 * same round trips and hide the check from the code that depends on it.
 */
export class LeaseFence implements WriteGuard {
  constructor(
    readonly lease: string,
    readonly token: number,
    /** Told of every refused write, so the term ends at once rather than at the next renewal. */
    private readonly onFenced: (error: LostLeadershipError) => void,
  ) {}

  async check(client: pg.PoolClient): Promise<void> {
    const result = await client.query<{ token: string; holder: string | null }>(
      "SELECT token, holder FROM leader_lease WHERE name = $1 FOR KEY SHARE",
      [this.lease],
    );
    const row = result.rows[0];
    const current = row ? Number(row.token) : null;
    if (current === this.token) return;
    const error = new LostLeadershipError(this.lease, this.token, current, row?.holder ?? null);
    this.onFenced(error);
    throw error;
  }
}
