import type { Clock } from "../clock.ts";
import type { DesiredStore } from "../desired/index.ts";
import { messageOf } from "../errors.ts";
import type { Logger } from "../logging.ts";
import { decide, defaultRetryPolicy, postNotification, type PostResult, type RetryPolicy } from "./delivery.ts";
import { notifierFromObject, type NotifierRef } from "./facts.ts";
import type { Delivery, PgNotificationOutbox } from "./outbox-pg.ts";
import { redactNotifierUrl, renderBody, requestHeaders } from "./payload.ts";
import { SerialPass } from "./serial-pass.ts";

export interface DeliveryWorkerOptions {
  outbox: PgNotificationOutbox;
  /** Reads the Notifier and its Secret at send time (a fix in Git reaches pending retries); records give-up events. */
  store: Pick<DesiredStore, "getObject" | "recordEvent">;
  clock: Clock;
  log: Logger;
  policy?: RetryPolicy;
  /** Per POST (default 5 s). */
  timeoutMs?: number;
  /** Posts in flight at once, at most one per Notifier (default 8). */
  concurrency?: number;
  /** How long a suspended Notifier's deliveries wait before being looked at again (default 30 s). */
  suspendedRecheckMs?: number;
}

/**
 * Posts due deliveries from the outbox. Each post runs on its own, so a
 * receiver that hangs holds one slot (for at most the timeout) while other
 * Notifiers' deliveries go on. `wake()` is called on NOTIFY; a timer covers
 * the next retry. Runs on the leader only.
 */
export class DeliveryWorker {
  readonly #options: DeliveryWorkerOptions;
  readonly #policy: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #concurrency: number;
  readonly #inFlight = new Map<number, { notifier: string; done: Promise<void> }>();
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  readonly #passes = new SerialPass(() => this.#run(), () => !this.#stopping.signal.aborted);

  constructor(options: DeliveryWorkerOptions) {
    this.#options = options;
    this.#policy = options.policy ?? defaultRetryPolicy;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#concurrency = options.concurrency ?? 8;
  }

  start(): void {
    this.wake();
  }

  /** Looks for due deliveries now; calls during a pass make it run once more. */
  wake(): void {
    this.#passes.kick();
  }

  /** Stops claiming, aborts posts in flight and hands their deliveries back, due at once for the next leader. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#timer);
    await this.#passes.settled();
    await Promise.all([...this.#inFlight.values()].map((flight) => flight.done));
  }

  async #run(): Promise<void> {
    const { outbox, clock, log } = this.#options;
    try {
      const now = clock.now();
      const busy = [...new Set([...this.#inFlight.values()].map((flight) => flight.notifier))];
      const claimed = await outbox.claim({
        now,
        // Past the post's own timeout: a worker that died mid-post leaves the delivery due again after this.
        leaseUntil: new Date(now.getTime() + this.#timeoutMs + 30_000),
        limit: this.#concurrency - this.#inFlight.size,
        busy,
      });
      for (const delivery of claimed) {
        const done = this.#deliver(delivery).finally(() => {
          this.#inFlight.delete(delivery.id);
          this.wake();
        });
        this.#inFlight.set(delivery.id, { notifier: notifierKey(delivery.notifier), done });
      }
      await this.#armTimer();
    } catch (error) {
      if (this.#stopping.signal.aborted) return;
      log.warn({ err: messageOf(error) }, "notification worker pass failed; retrying");
      this.#arm(1_000);
    }
  }

  async #armTimer(): Promise<void> {
    const next = await this.#options.outbox.nextDueAt();
    if (next) this.#arm(next.getTime() - this.#options.clock.now().getTime());
  }

  #arm(delayMs: number): void {
    if (this.#stopping.signal.aborted) return;
    clearTimeout(this.#timer);
    // Timers wake at most once a minute unasked: NOTIFY covers new deliveries, this covers retries.
    this.#timer = setTimeout(() => this.wake(), Math.min(Math.max(delayMs, 0), 60_000) + 10);
    this.#timer.unref();
  }

  async #deliver(delivery: Delivery): Promise<void> {
    const { outbox, store, clock, log } = this.#options;
    const about = { notifier: notifierKey(delivery.notifier), delivery: delivery.id, type: delivery.type, key: delivery.idempotencyKey };
    try {
      const object = await store.getObject({ kind: "Notifier", ...delivery.notifier });
      const notifier = object ? notifierFromObject(object) : undefined;
      if (!notifier) {
        await outbox.markFailed(delivery.id, "the Notifier no longer exists", null, clock.now(), false);
        return;
      }
      if (notifier.spec.suspend) {
        await outbox.release([delivery.id], new Date(clock.now().getTime() + (this.#options.suspendedRecheckMs ?? 30_000)));
        return;
      }
      const key = await this.#signingKey(notifier);
      const result: PostResult =
        key.problem !== undefined
          ? { kind: "unreachable", error: key.problem }
          : await this.#post(notifier, delivery, key.value);
      if (this.#stopping.signal.aborted && result.kind === "unreachable") {
        await outbox.release([delivery.id], clock.now());
        return;
      }
      const now = clock.now();
      const verdict = decide(result, delivery.attempts + 1, delivery.createdAt, now, this.#policy);
      const target = redactNotifierUrl(notifier.spec.url);
      if (verdict.type === "delivered") {
        await outbox.markDelivered(delivery.id, now, verdict.status);
        log.info({ ...about, target, attempts: delivery.attempts + 1 }, "notification delivered");
      } else if (verdict.type === "retry") {
        await outbox.markRetry(delivery.id, verdict.error, verdict.status, verdict.at);
        log.warn({ ...about, target, err: verdict.error, retryAt: verdict.at.toISOString() }, "notification delivery failed; will retry");
      } else {
        await outbox.markFailed(delivery.id, verdict.error, verdict.status, now);
        log.warn({ ...about, target, err: verdict.error }, "notification delivery failed for good");
        await store.recordEvent({
          kind: "Notifier",
          namespace: delivery.notifier.namespace,
          name: delivery.notifier.name,
          type: "Warning",
          reason: "DeliveryFailed",
          message: `${delivery.type} notification ${delivery.idempotencyKey} to ${target} not delivered after ${delivery.attempts + 1} attempt(s): ${verdict.error}`,
          source: "notification-worker",
        });
      }
    } catch (error) {
      // The outcome could not be recorded: the claim's lease runs out and the delivery is tried again.
      if (!this.#stopping.signal.aborted) log.warn({ ...about, err: messageOf(error) }, "could not record a notification delivery");
    }
  }

  #post(notifier: NotifierRef, delivery: Delivery, key: Buffer | undefined): Promise<PostResult> {
    const body = renderBody(notifier.spec.format, delivery.notification);
    return postNotification({
      url: notifier.spec.url,
      body,
      headers: requestHeaders(notifier.spec, delivery.notification, body, key),
      timeoutMs: this.#timeoutMs,
      signal: this.#stopping.signal,
    });
  }

  /** The HMAC key from the referenced Secret. A problem names the Secret and key, never a value. */
  async #signingKey(notifier: NotifierRef): Promise<{ value: Buffer | undefined; problem?: undefined } | { value?: undefined; problem: string }> {
    const ref = notifier.spec.secretRef;
    if (!ref) return { value: undefined };
    const secret = await this.#options.store.getObject({ kind: "Secret", namespace: notifier.namespace, name: ref.name });
    if (!secret) return { problem: `Secret ${JSON.stringify(ref.name)} not found in namespace ${JSON.stringify(notifier.namespace)}` };
    const data = (secret.spec as { data?: Record<string, string> }).data ?? {};
    const encoded = data[ref.key];
    if (encoded === undefined) return { problem: `Secret ${JSON.stringify(ref.name)} has no key ${JSON.stringify(ref.key)}` };
    return { value: Buffer.from(encoded, "base64") };
  }
}

function notifierKey(notifier: { namespace: string; name: string }): string {
  return `${notifier.namespace}/${notifier.name}`;
}
