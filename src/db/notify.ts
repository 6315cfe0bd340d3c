import pg from "pg";
import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import { silentLogger, type Logger } from "../logging.ts";

/** The channels the schema's triggers notify on (see migrations/001_initial.sql). */
export const channels = {
  objects: "capstan_objects",
  revisions: "capstan_revisions",
  events: "capstan_events",
  /** A delivery entered the notifications outbox (migrations/007_notifications.sql; payload: its id). */
  notifications: "capstan_notifications",
  /** A push webhook reached some replica: whichever leads fetches now (no payload). */
  syncTrigger: "capstan_sync_trigger",
} as const;

export interface ListenOptions {
  /**
   * Called after the connection was lost and LISTEN is in place again.
   * Notifications sent while disconnected are lost for good, so callers
   * resync everything here (the "relist" of a Kubernetes informer).
   */
  onReconnect?: () => void | Promise<void>;
  log?: Logger;
  backoff?: BackoffOptions;
  /**
   * How often an idle connection is checked with a query. TCP keep-alive
   * alone can take minutes to notice a silently vanished server.
   */
  heartbeatMs?: number;
}

export interface Listener {
  /** Stops listening and reconnecting; idempotent. */
  close(): Promise<void>;
}

const defaultBackoff: BackoffOptions = { initialMs: 100, maxMs: 10_000, jitter: 0.5 };

/**
 * LISTENs on `channelNames` over a dedicated connection (a pooled one would be
 * handed to others and drop the LISTEN). Resolves once listening; rejects if
 * the first connection fails, so a wrong URL is reported at once. Afterwards a
 * lost connection is re-established with back-off and jitter until `close()`.
 */
export async function listen(
  config: string | pg.ClientConfig,
  channelNames: string[],
  onNotification: (channel: string, payload: string) => void,
  options: ListenOptions = {},
): Promise<Listener> {
  const log = options.log ?? silentLogger;
  const backoff = options.backoff ?? defaultBackoff;
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  const clientConfig: pg.ClientConfig = {
    ...(typeof config === "string" ? { connectionString: config } : config),
    application_name: "capstan-listen",
    keepAlive: true,
  };
  let client: pg.Client | undefined;
  let closed = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let reconnecting: Promise<void> | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;

  const deliver = (message: pg.Notification): void => {
    try {
      onNotification(message.channel, message.payload ?? "");
    } catch (error) {
      log.error({ err: (error as Error).message, channel: message.channel }, "notification handler failed");
    }
  };

  const connect = async (): Promise<pg.Client> => {
    const next = new pg.Client(clientConfig);
    // Registered before connect: an error during the handshake must not go uncaught.
    next.on("error", (error) => lost(next, error));
    next.on("end", () => lost(next, new Error("connection ended")));
    next.on("notification", deliver);
    try {
      await next.connect();
      for (const channel of channelNames) await next.query(`LISTEN ${next.escapeIdentifier(channel)}`);
    } catch (error) {
      next.removeAllListeners("end");
      await next.end().catch(() => undefined);
      throw error;
    }
    return next;
  };

  const lost = (which: pg.Client, error: Error): void => {
    if (which !== client || closed) return;
    client = undefined;
    clearInterval(heartbeatTimer);
    log.warn({ err: error.message, channels: channelNames }, "LISTEN connection lost; reconnecting");
    which.removeAllListeners("end");
    which.end().catch(() => undefined);
    scheduleReconnect();
  };

  const scheduleReconnect = (): void => {
    if (closed) return;
    const delay = backoffDelay(attempt++, backoff);
    reconnectTimer = setTimeout(() => {
      reconnecting = reconnect().finally(() => (reconnecting = undefined));
    }, delay);
  };

  const reconnect = async (): Promise<void> => {
    reconnectTimer = undefined;
    let next: pg.Client;
    try {
      next = await connect();
    } catch (error) {
      log.warn({ err: (error as Error).message, attempt }, "LISTEN reconnect failed");
      scheduleReconnect();
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    adopt(next);
    attempt = 0;
    log.info({ channels: channelNames }, "LISTEN connection re-established");
    try {
      await options.onReconnect?.();
    } catch (error) {
      log.error({ err: (error as Error).message }, "onReconnect handler failed");
    }
  };

  const adopt = (next: pg.Client): void => {
    client = next;
    heartbeatTimer = setInterval(() => {
      const current = client;
      if (!current) return;
      // On a half-open connection the query neither answers nor fails.
      const silence = setTimeout(() => lost(current, new Error(`no answer to a health check in ${heartbeatMs} ms`)), heartbeatMs);
      silence.unref();
      current
        .query("SELECT 1")
        .catch((error: Error) => lost(current, error))
        .finally(() => clearTimeout(silence));
    }, heartbeatMs);
    // A health check alone must not keep a process alive that has nothing else to do.
    heartbeatTimer.unref();
  };

  adopt(await connect());

  return {
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(reconnectTimer);
      clearInterval(heartbeatTimer);
      // A reconnect in flight sees `closed` and ends its own connection.
      await reconnecting;
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners("end");
        await current.end().catch(() => undefined);
      }
    },
  };
}

/**
 * Sends a notification. Inside a transaction (pass its client) it is delivered
 * on COMMIT and dropped on ROLLBACK, like the schema's trigger notifications.
 * PostgreSQL caps a payload at about 8000 bytes; send keys, not documents.
 */
export async function notify(
  queryable: Pick<pg.Pool, "query"> | pg.PoolClient,
  channel: string,
  payload: string | object,
): Promise<void> {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  await queryable.query("SELECT pg_notify($1, $2)", [channel, text]);
}
