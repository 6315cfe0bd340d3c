import type pg from "pg";
import { z } from "zod";
import { systemClock, type Clock } from "../clock.ts";
import { withTransaction, type WriteGuard } from "../db/index.ts";
import { notificationEventTypes } from "../desired/index.ts";
import {
  notifiableReasons,
  notificationFromEvent,
  notificationFromRejectedRevision,
  notificationSchema,
  notifierFromObject,
  wants,
  type Notification,
} from "./facts.ts";

/**
 * The outbox table (migrations/007_notifications.sql): enqueueing from the
 * stored facts behind a durable cursor, claiming due deliveries, recording
 * outcomes, and the listing the API and page read.
 */

export const deliveryStates = ["pending", "delivered", "failed"] as const;

export const deliverySchema = z.object({
  id: z.number().int(),
  notifier: z.object({ namespace: z.string(), name: z.string() }),
  type: z.enum(notificationEventTypes),
  idempotencyKey: z.string(),
  state: z.enum(deliveryStates),
  attempts: z.number().int(),
  nextAttemptAt: z.coerce.date(),
  lastError: z.string().nullable(),
  lastStatus: z.number().int().nullable(),
  createdAt: z.coerce.date(),
  deliveredAt: z.coerce.date().nullable(),
  finishedAt: z.coerce.date().nullable(),
  notification: notificationSchema,
});
export type Delivery = z.infer<typeof deliverySchema>;

export interface OutboxOptions {
  /** The leader term's fence: an old leader's worker cannot record outcomes or move the cursor. */
  writeGuard?: WriteGuard;
  /** Only paces the idle cursor refresh; deliveries' times come from the caller. */
  clock?: Pick<Clock, "now">;
}

// How stale the cursor may get while no notifiable fact (or no Notifier) is there: it only bounds the scanned range.
const cursorRefreshMs = 60_000;

async function anyFacts(db: Pick<pg.Pool, "query">, range: string[]): Promise<boolean> {
  const result = await db.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM objects WHERE kind = 'Notifier' AND deleted_at IS NULL)
        AND (EXISTS (SELECT 1 FROM events WHERE written_xid >= $1::xid8 AND written_xid < $2::xid8 AND reason = ANY($3))
             OR EXISTS (SELECT 1 FROM revisions WHERE written_xid >= $1::xid8 AND written_xid < $2::xid8 AND state = 'rejected')) AS found`,
    [...range, notifiableReasons],
  );
  return result.rows[0]?.found === true;
}

export class PgNotificationOutbox {
  readonly #clock: Pick<Clock, "now">;
  #advancedAt: number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: OutboxOptions = {},
  ) {
    this.#clock = options.clock ?? systemClock;
    // From construction: a new leader's first idle pass writes nothing either.
    this.#advancedAt = this.#clock.now().getTime();
  }

  #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const guard = this.options.writeGuard;
    return withTransaction(this.pool, async (client) => {
      if (guard) await guard.check(client);
      return work(client);
    });
  }

  /**
   * Turns the facts written since the cursor into deliveries, one per wanting
   * Notifier, and moves the cursor, in one transaction: a crash before COMMIT
   * leaves both as they were, so nothing is lost or enqueued twice. Returns
   * how many deliveries were added.
   */
  async dispatch(): Promise<number> {
    // Every transaction below the horizon has ended, so all it wrote is visible now (see the migration).
    const horizon = (await this.pool.query<{ horizon: string }>("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon")).rows[0]!.horizon;
    // An idle pass writes nothing: the cursor moves only for news, or now and then to keep the range it scans short.
    const seen = (await this.pool.query<{ horizon: string }>("SELECT horizon::text FROM notification_cursor WHERE id = 'facts'")).rows[0];
    if (!seen || BigInt(horizon) <= BigInt(seen.horizon)) return 0;
    const now = this.#clock.now().getTime();
    if (now - this.#advancedAt < cursorRefreshMs && !(await anyFacts(this.pool, [seen.horizon, horizon]))) return 0;
    this.#advancedAt = now;
    return this.#transaction(async (client) => {
      const cursor = (await client.query<{ horizon: string }>("SELECT horizon::text FROM notification_cursor WHERE id = 'facts' FOR UPDATE")).rows[0];
      if (!cursor || BigInt(horizon) <= BigInt(cursor.horizon)) return 0;
      const range = [cursor.horizon, horizon];
      const events = await client.query(
        `SELECT e.id, e.kind, e.namespace, e.name, e.type, e.reason, e.message, e.count, e.first_time, e.last_time,
                CASE WHEN e.reason = 'AutoReverted' THEN
                       (SELECT r.reverted_by FROM rollouts r WHERE (r.kind, r.namespace, r.name) = (e.kind, e.namespace, e.name)
                          AND r.reverted_by IS NOT NULL ORDER BY r.id DESC LIMIT 1)
                     WHEN e.reason IN ('RolloutComplete', 'RolloutFailed') THEN
                       (SELECT r.revision_sha FROM rollouts r WHERE (r.kind, r.namespace, r.name) = (e.kind, e.namespace, e.name)
                          AND r.outcome IN ('complete', 'failed') ORDER BY r.id DESC LIMIT 1)
                END AS revision
         FROM events e
         WHERE e.written_xid >= $1::xid8 AND e.written_xid < $2::xid8 AND e.reason = ANY($3)
         ORDER BY e.id`,
        [...range, notifiableReasons],
      );
      const revisions = await client.query(
        "SELECT sha, errors, seen_at FROM revisions WHERE written_xid >= $1::xid8 AND written_xid < $2::xid8 AND state = 'rejected' ORDER BY id",
        range,
      );
      const notifications: Notification[] = [
        ...revisions.rows.map((row) => notificationFromRejectedRevision({ sha: row.sha, errors: row.errors, seenAt: row.seen_at })),
        ...events.rows.flatMap((row) => {
          const notification = notificationFromEvent({
            id: Number(row.id),
            kind: row.kind,
            namespace: row.namespace,
            name: row.name,
            type: row.type,
            reason: row.reason,
            message: row.message,
            count: Number(row.count),
            firstTime: row.first_time,
            lastTime: row.last_time,
            revision: row.revision,
          });
          return notification ? [notification] : [];
        }),
      ];
      let added = 0;
      if (notifications.length > 0) {
        const objects = await client.query("SELECT namespace, name, spec FROM objects WHERE kind = 'Notifier' AND deleted_at IS NULL ORDER BY namespace, name");
        const rows = objects.rows.flatMap((object) => {
          const notifier = notifierFromObject(object);
          if (!notifier) return [];
          return notifications.filter((n) => wants(notifier.spec, n)).map((n) => ({ ns: notifier.namespace, name: notifier.name, type: n.type, key: n.idempotencyKey, payload: n }));
        });
        if (rows.length > 0) {
          const inserted = await client.query(
            `INSERT INTO notification_deliveries (notifier_namespace, notifier_name, event_type, idempotency_key, payload)
             SELECT ns, name, type, key, payload FROM jsonb_to_recordset($1::jsonb) AS r(ns text, name text, type text, key text, payload jsonb)
             ON CONFLICT (notifier_namespace, notifier_name, idempotency_key) DO NOTHING`,
            [JSON.stringify(rows)],
          );
          added = inserted.rowCount ?? 0;
        }
      }
      await client.query("UPDATE notification_cursor SET horizon = $1::xid8 WHERE id = 'facts'", [horizon]);
      return added;
    });
  }

  /**
   * Claims up to `limit` due deliveries, skipping rows another worker holds
   * and notifiers in `busy` (one post in flight per receiver keeps a slow one
   * from taking every slot). A claim is a lease: next_attempt_at moves to
   * `leaseUntil`, so a worker that dies mid-post leaves the delivery due again.
   */
  async claim(options: { now: Date; leaseUntil: Date; limit: number; busy: string[] }): Promise<Delivery[]> {
    if (options.limit <= 0) return [];
    // Most wakes find nothing due: look before taking locks (and, with replicas, the lease fence) in a transaction.
    const due = await this.pool.query("SELECT 1 FROM notification_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 LIMIT 1", [options.now]);
    if (due.rowCount === 0) return [];
    return this.#transaction(async (client) => {
      const result = await client.query(
        `UPDATE notification_deliveries SET next_attempt_at = $2
         WHERE id IN (
           SELECT DISTINCT ON (notifier_namespace, notifier_name) id FROM (
             SELECT id, notifier_namespace, notifier_name FROM notification_deliveries
             WHERE state = 'pending' AND next_attempt_at <= $1
               AND NOT (notifier_namespace || '/' || notifier_name = ANY($4::text[]))
             ORDER BY id
             LIMIT 1000
             FOR UPDATE SKIP LOCKED
           ) due ORDER BY notifier_namespace, notifier_name, id
           LIMIT $3)
         RETURNING *`,
        [options.now, options.leaseUntil, options.limit, options.busy],
      );
      return result.rows.map(deliveryFromRow).sort((a, b) => a.id - b.id);
    });
  }

  async markDelivered(id: number, at: Date, status: number): Promise<void> {
    await this.#transaction((client) =>
      client.query(
        "UPDATE notification_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $2, finished_at = $2, last_status = $3, last_error = NULL WHERE id = $1 AND state = 'pending'",
        [id, at, status],
      ),
    );
  }

  async markRetry(id: number, error: string, status: number | null, nextAttemptAt: Date): Promise<void> {
    await this.#transaction((client) =>
      client.query(
        "UPDATE notification_deliveries SET attempts = attempts + 1, last_error = $2, last_status = $3, next_attempt_at = $4 WHERE id = $1 AND state = 'pending'",
        [id, error, status, nextAttemptAt],
      ),
    );
  }

  async markFailed(id: number, error: string, status: number | null, at: Date, countAttempt = true): Promise<void> {
    await this.#transaction((client) =>
      client.query(
        `UPDATE notification_deliveries SET state = 'failed', attempts = attempts + $5, last_error = $2, last_status = $3, finished_at = $4
         WHERE id = $1 AND state = 'pending'`,
        [id, error, status, at, countAttempt ? 1 : 0],
      ),
    );
  }

  /** Hands a claimed delivery back without counting an attempt (suspended notifier, worker stopping). */
  async release(ids: number[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.#transaction((client) =>
      client.query("UPDATE notification_deliveries SET next_attempt_at = $2 WHERE id = ANY($1::bigint[]) AND state = 'pending'", [ids, at]),
    );
  }

  /** When the earliest pending delivery is due, for the worker's timer. */
  async nextDueAt(): Promise<Date | null> {
    const result = await this.pool.query<{ at: Date | null }>("SELECT min(next_attempt_at) AS at FROM notification_deliveries WHERE state = 'pending'");
    return result.rows[0]?.at ?? null;
  }

  /** Deliveries newest first, keyset-paged by id like /api/revisions. */
  async list(options: { limit: number; before?: number; state?: (typeof deliveryStates)[number] }): Promise<Delivery[]> {
    const result = await this.pool.query(
      `SELECT * FROM notification_deliveries
       WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR state = $2)
       ORDER BY id DESC LIMIT $3`,
      [options.before ?? null, options.state ?? null, options.limit],
    );
    return result.rows.map(deliveryFromRow);
  }
}

function deliveryFromRow(row: Record<string, any>): Delivery {
  return deliverySchema.parse({
    id: Number(row.id),
    notifier: { namespace: row.notifier_namespace, name: row.notifier_name },
    type: row.event_type,
    idempotencyKey: row.idempotency_key,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    lastStatus: row.last_status,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
    finishedAt: row.finished_at,
    notification: row.payload,
  });
}
