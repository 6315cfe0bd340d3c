/**
 * Notifications (kind: Notifier): facts the controllers record become
 * deliveries in a durable outbox (the dispatcher), which the worker posts to
 * each Notifier's URL with retries. Both run on the leader only.
 */
import type pg from "pg";
import type { Clock } from "../clock.ts";
import { channels, listen, type WriteGuard } from "../db/index.ts";
import type { DesiredStore } from "../desired/index.ts";
import type { Logger } from "../logging.ts";
import type { RetryPolicy } from "./delivery.ts";
import { Dispatcher } from "./dispatcher.ts";
import { PgNotificationOutbox } from "./outbox-pg.ts";
import { DeliveryWorker } from "./worker.ts";

export { PgNotificationOutbox, deliverySchema, deliveryStates, type Delivery } from "./outbox-pg.ts";
export { notificationSchema, type Notification } from "./facts.ts";
export { decide, defaultRetryPolicy, type RetryPolicy, type PostResult, type Verdict } from "./delivery.ts";
export { renderBody, sign, verifySignature, signatureHeader, redactNotifierUrl } from "./payload.ts";
export { Dispatcher } from "./dispatcher.ts";
export { DeliveryWorker } from "./worker.ts";

export interface NotificationsOptions {
  pool: pg.Pool;
  databaseUrl: string;
  /** The leader term's store (fenced): Notifier and Secret reads, give-up events. */
  store: Pick<DesiredStore, "getObject" | "recordEvent">;
  clock: Clock;
  log: Logger;
  writeGuard?: WriteGuard;
  policy?: RetryPolicy;
  timeoutMs?: number;
  dispatchIntervalMs?: number;
}

export interface Notifications {
  outbox: PgNotificationOutbox;
  dispatcher: Dispatcher;
  worker: DeliveryWorker;
  /** Stops listening, lets the dispatch pass finish, aborts posts in flight (their deliveries stay pending). */
  stop(): Promise<void>;
}

export async function startNotifications(options: NotificationsOptions): Promise<Notifications> {
  const outbox = new PgNotificationOutbox(options.pool, { writeGuard: options.writeGuard, clock: options.clock });
  const dispatcher = new Dispatcher({ outbox, log: options.log, intervalMs: options.dispatchIntervalMs });
  const worker = new DeliveryWorker({ outbox, store: options.store, clock: options.clock, log: options.log, policy: options.policy, timeoutMs: options.timeoutMs });
  const listener = await listen(
    options.databaseUrl,
    [channels.events, channels.revisions, channels.notifications],
    (channel) => (channel === channels.notifications ? worker.wake() : dispatcher.kick()),
    {
      log: options.log,
      // NOTIFYs sent while disconnected are lost; the cursor and the outbox are not: just look again.
      onReconnect: () => {
        dispatcher.kick();
        worker.wake();
      },
    },
  );
  dispatcher.start(() => worker.wake());
  worker.start();
  return {
    outbox,
    dispatcher,
    worker,
    async stop() {
      await listener.close();
      await dispatcher.stop();
      await worker.stop();
    },
  };
}
