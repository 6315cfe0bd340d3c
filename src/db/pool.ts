import pg from "pg";
import { silentLogger, type Logger } from "../logging.ts";

export interface PoolOptions {
  /** Connections kept at most; the control plane is one process with a handful of loops. */
  max?: number;
  /** Server-side cap on one statement, so a stuck query cannot hold a loop forever. */
  statementTimeoutMs?: number;
  /** How long to wait for a connection (new or from the pool) before failing. */
  connectionTimeoutMs?: number;
  idleTimeoutMs?: number;
  /**
   * Server-side cap on a transaction left idle (its client frozen or gone
   * quiet between statements): PostgreSQL ends the session, so its row
   * locks, such as a leader's fence lock, do not outlive it.
   */
  idleInTransactionTimeoutMs?: number;
  applicationName?: string;
  log?: Logger;
}

/**
 * A pg.Pool with the settings capstan wants everywhere. Shows up as
 * application_name "capstan" in pg_stat_activity, so an operator can tell its
 * connections apart.
 */
export function createPool(url: string, options: PoolOptions = {}): pg.Pool {
  const log = options.log ?? silentLogger;
  const pool = new pg.Pool({
    connectionString: url,
    application_name: options.applicationName ?? "capstan",
    max: options.max ?? 10,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    ...(options.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs } : {}),
    // Detects a vanished server on idle connections instead of waiting for the next query.
    keepAlive: true,
  });
  // pg emits 'error' on the pool when an idle client loses its connection (a
  // server restart, pg_terminate_backend). Without a listener Node would treat
  // it as an uncaught error and exit; the pool already discards that client.
  pool.on("error", (error) => {
    log.warn({ err: error.message }, "idle PostgreSQL connection lost");
  });
  return pool;
}

/**
 * Runs `work` in one transaction on one client: COMMIT when it resolves,
 * ROLLBACK when it throws (and rethrows). The client always goes back to the
 * pool, and is destroyed rather than reused when its connection broke.
 */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no pool listener; a connection lost between two
  // queries would otherwise be an uncaught 'error'. The failure itself surfaces
  // through the next query.
  let connectionError: Error | undefined;
  const onError = (error: Error): void => {
    connectionError = error;
  };
  client.on("error", onError);
  try {
    await client.query("BEGIN");
    const value = await work(client);
    await client.query("COMMIT");
    return value;
  } catch (error) {
    await client.query("ROLLBACK").catch((rollbackError: Error) => {
      connectionError ??= rollbackError;
    });
    throw error;
  } finally {
    client.off("error", onError);
    client.release(connectionError);
  }
}
