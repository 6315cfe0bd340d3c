import type pg from "pg";

/**
 * A check every write transaction of a store runs first, on the
 * transaction's own connection, before it changes anything. It throws to
 * refuse the write; the transaction then rolls back whole. The control
 * plane's replicas inject their leadership fence (src/leader/fence.ts); a
 * single control plane injects none.
 */
export interface WriteGuard {
  check(client: pg.PoolClient): Promise<void>;
}
