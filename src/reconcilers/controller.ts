import { z } from "zod";
import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import type { Clock } from "../clock.ts";
import type { DesiredStore, ObjectKey, StoredObject } from "../desired/index.ts";
import { CapstanError, messageOf, ObjectNotFoundError } from "../errors.ts";
import type { Logger } from "../logging.ts";
import { changeReads } from "./change-reads.ts";
import { PrimedReads } from "./primed-reads.ts";
import type { CronJobRunObserver, ObjectChange, ReconcileContext, ReconcileObserver, Reconciler } from "./types.ts";
import { keyId, WorkQueue } from "./workqueue.ts";

export interface ControllerOptions {
  /** Read for resyncs, written for events (`recordEvent`), and handed to reconcilers. */
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  reconcilers: Reconciler[];
  /** Reconciles running at once, across all reconcilers. */
  concurrency?: number;
  /** How often every live object of each reconciler's kind is enqueued, in case a notification was lost; 0 = never. */
  resyncIntervalMs?: number;
  /** Per-key back-off after transient errors. */
  backoff?: BackoffOptions;
  /** How long `stop()` waits for reconciles in flight. */
  stopTimeoutMs?: number;
  /** Told of every reconcile's duration and failure (/metrics). */
  observer?: ReconcileObserver;
  /** Handed to the reconcilers (ctx.cronJobRuns), which tell it of CronJob runs. */
  cronJobRuns?: CronJobRunObserver;
}

export interface QueueStats {
  kind: string;
  reconciler: string;
  /** Keys ready to run. */
  queued: number;
  processing: number;
  /** Keys waiting for a delayed enqueue (back-off, requeueAfterMs). */
  waiting: number;
  /** Keys whose last run failed: in back-off, or parked after a terminal error. */
  failures: number;
}

/** The NOTIFY payload on `capstan_objects` (migrations 001/003/004), checked at the boundary. */
export const objectChangeSchema: z.ZodType<ObjectChange> = z.object({
  kind: z.string().min(1),
  namespace: z.string(),
  name: z.string().min(1),
  uid: z.string(),
  ownerUid: z.string().nullable().optional(),
  resourceVersion: z.number().int(),
  op: z.enum(["INSERT", "UPDATE", "DELETE"]),
  deleted: z.boolean(),
  statusOnly: z.boolean(),
});

const defaults = {
  concurrency: 4,
  resyncIntervalMs: 30_000,
  // client-go's per-item limiter starts at 5 ms; its 1000 s ceiling is longer than a GitOps loop wants.
  backoff: { initialMs: 5, maxMs: 5 * 60_000 } satisfies BackoffOptions,
  stopTimeoutMs: 10_000,
};

interface Listed {
  key: ObjectKey;
  object: StoredObject;
}

interface Controller {
  reconciler: Reconciler;
  queue: WorkQueue;
  ctx: ReconcileContext;
  /** Consecutive transient failures per key; forgotten on success or a terminal error. */
  failures: Map<string, number>;
  /**
   * Keys whose last run failed terminally, with the object's resource version
   * then (undefined when unknown). Resync leaves them alone until the object
   * changes; a notification or an explicit enqueue retries them at once.
   */
  parked: Map<string, number | undefined>;
  /** What the last listing read, for the reconciles it enqueued (ctx.store.getObject answers from it). */
  primed: PrimedReads;
}

/**
 * The controller runtime (controller-runtime's manager with client-go's
 * workqueue): routes store changes to reconcilers, runs them with bounded
 * concurrency and never two at once for one key, resyncs periodically, and is
 * the one place that decides retries (house style 5): transient errors back
 * off per key, terminal ones are recorded as an event and wait for a change.
 */
/** A NOTIFY payload of capstan_objects, or undefined (logged) when it is malformed. */
export function parseObjectChange(payload: string, log: Logger): ObjectChange | undefined {
  try {
    return objectChangeSchema.parse(JSON.parse(payload));
  } catch (error) {
    log.warn({ err: messageOf(error), payload: payload.slice(0, 500) }, "malformed object notification ignored");
    return undefined;
  }
}

export class ControllerManager {
  readonly #store: DesiredStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #controllers: Controller[];
  readonly #concurrency: number;
  readonly #resyncIntervalMs: number;
  readonly #backoff: BackoffOptions;
  readonly #stopTimeoutMs: number;
  readonly #observer: ReconcileObserver | undefined;
  readonly #cronJobRuns: CronJobRunObserver | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  #cursor = 0;
  #starting = false;
  #started = false;
  #pumping = false;
  #stopped = false;
  #resyncLoop: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#concurrency = Math.max(1, options.concurrency ?? defaults.concurrency);
    this.#resyncIntervalMs = options.resyncIntervalMs ?? defaults.resyncIntervalMs;
    this.#backoff = options.backoff ?? defaults.backoff;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? defaults.stopTimeoutMs;
    this.#observer = options.observer;
    this.#cronJobRuns = options.cronJobRuns;
    const names = new Set<string>();
    this.#controllers = options.reconcilers.map((reconciler) => {
      if (names.has(reconciler.name)) throw new Error(`two reconcilers are named ${reconciler.name}`);
      names.add(reconciler.name);
      const clock = reconciler.ownClock ?? this.#clock;
      const primed = new PrimedReads();
      return {
        reconciler,
        queue: new WorkQueue(clock, () => this.#pump()),
        ctx: this.#context(reconciler, clock, this.#log.child({ reconciler: reconciler.name }), primed.view(this.#store)),
        failures: new Map(),
        parked: new Map(),
        primed,
      };
    });
  }

  /**
   * Lists every object of each reconciler's kind and enqueues it, then starts
   * the workers and the resync timer. Keys enqueued before are kept and run
   * then. Rejects, starting nothing, when the first listing fails.
   */
  async start(): Promise<void> {
    if (this.#starting || this.#started) throw new Error("controller manager already started");
    this.#starting = true;
    let listed: Listed[][];
    try {
      const settled = await Promise.allSettled(this.#controllers.map((controller) => this.#list(controller)));
      const failed = settled.find((result) => result.status === "rejected");
      listed = settled.map((result) => (result.status === "fulfilled" ? result.value : []));
      if (failed || this.#stopped) {
        // The listings that did succeed are closed without enqueueing anything (a failed one closed itself).
        settled.forEach((result, index) => result.status === "fulfilled" && this.#controllers[index]!.primed.endListing());
        if (failed) throw failed.reason;
        return;
      }
    } finally {
      this.#starting = false;
    }
    this.#started = true;
    this.#controllers.forEach((controller, index) => this.#enqueueListed(controller, listed[index]!));
    this.#pump();
    // 0 (or less) turns the periodic resync off; `resync()` can still be called, e.g. after a LISTEN reconnect.
    if (this.#resyncIntervalMs > 0) this.#resyncLoop = this.#runResyncLoop();
    this.#log.info({ reconcilers: this.#controllers.map((c) => c.reconciler.name), concurrency: this.#concurrency }, "controllers started");
  }

  /** Feeds a store change to every reconciler, through its `keysFor` (default: its own kind's key). */
  notify(change: ObjectChange): void {
    // First, so that no reconcile started by this change reads what a listing said before it.
    for (const controller of this.#controllers) controller.primed.invalidate(change);
    const store = changeReads(this.#store);
    for (const controller of this.#controllers) {
      const { reconciler } = controller;
      if (!reconciler.keysFor) {
        if (change.kind === reconciler.kind) this.#add(controller, change);
        continue;
      }
      const failed = (error: unknown): void =>
        controller.ctx.log.error({ err: error, change }, "keysFor failed; the change is not routed to this reconciler");
      let keys: Promise<ObjectKey[]> | ObjectKey[];
      try {
        keys = reconciler.keysFor(change, { ...controller.ctx, store });
      } catch (error) {
        failed(error);
        continue;
      }
      if (Array.isArray(keys)) for (const key of keys) this.#add(controller, key);
      else
        Promise.resolve(keys)
          .then((resolved) => resolved.forEach((key) => this.#add(controller, key)))
          .catch(failed);
    }
  }

  /** Parses a raw `capstan_objects` NOTIFY payload and routes it; a malformed payload is logged, never thrown. */
  notifyRaw(payload: string): void {
    const change = parseObjectChange(payload, this.#log);
    if (change) this.notify(change);
  }

  /** Enqueues a key for every reconciler of `kind`, now or after `afterMs`. */
  enqueue(kind: string, key: ObjectKey, afterMs?: number): void {
    for (const controller of this.#controllers) {
      if (controller.reconciler.kind !== kind) continue;
      if (afterMs !== undefined && afterMs > 0) controller.queue.addAfter(plainKey(key), afterMs);
      else this.#add(controller, key);
    }
  }

  stats(): QueueStats[] {
    return this.#controllers.map(({ reconciler, queue, failures, parked }) => ({
      kind: reconciler.kind,
      reconciler: reconciler.name,
      queued: queue.ready,
      processing: queue.processing,
      waiting: queue.waiting,
      failures: failures.size + parked.size,
    }));
  }

  /** Stops taking work, waits (bounded) for the reconciles in flight, and cancels every timer. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopping.abort();
    for (const controller of this.#controllers) {
      controller.queue.shutDown();
      controller.primed.clear();
    }
    const pending = [...this.#inFlight, ...(this.#resyncLoop ? [this.#resyncLoop] : [])];
    if (pending.length === 0) return;
    const bound = new AbortController();
    let timedOut = false;
    await Promise.race([
      Promise.all(pending),
      this.#clock.sleep(this.#stopTimeoutMs, bound.signal).then(() => (timedOut = !bound.signal.aborted)),
    ]);
    bound.abort();
    if (timedOut) this.#log.warn({ inFlight: this.#inFlight.size, waitedMs: this.#stopTimeoutMs }, "stopped with reconciles still running");
  }

  /** An immediate enqueue: a change, an explicit request or a due timer. It retries a parked key. */
  #add(controller: Controller, key: ObjectKey): void {
    const plain = plainKey(key);
    controller.parked.delete(keyId(plain));
    controller.queue.add(plain);
  }

  /** Starts reconciles while there are free slots, taking keys round-robin across reconcilers. */
  #pump(): void {
    // A reconcile starts synchronously and may enqueue before its run is counted: the outer loop sees that key.
    if (!this.#started || this.#stopped || this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#inFlight.size < this.#concurrency) {
        const next = this.#takeNext();
        if (!next) return;
        const run = this.#run(next.controller, next.key);
        this.#inFlight.add(run);
        void run.finally(() => {
          this.#inFlight.delete(run);
          next.controller.primed.forget(next.key);
          next.controller.queue.done(next.key);
          this.#pump();
        });
      }
    } finally {
      this.#pumping = false;
    }
  }

  #takeNext(): { controller: Controller; key: ObjectKey } | undefined {
    const count = this.#controllers.length;
    for (let i = 0; i < count; i++) {
      const index = (this.#cursor + i) % count;
      const controller = this.#controllers[index]!;
      const key = controller.queue.take();
      if (key) {
        this.#cursor = (index + 1) % count;
        return { controller, key };
      }
    }
    return undefined;
  }

  /** One reconcile and the decision that follows it. Never rejects. */
  async #run(controller: Controller, key: ObjectKey): Promise<void> {
    const { reconciler, queue, failures } = controller;
    const id = keyId(key);
    // Running again is the retry a parked key was waiting for; a terminal error parks it anew.
    controller.parked.delete(id);
    const log = controller.ctx.log.child({ kind: key.kind, namespace: key.namespace, name: key.name });
    const started = performance.now();
    const observe = (failed: boolean) =>
      this.#observer?.reconciled({ kind: reconciler.kind, controller: reconciler.name, seconds: (performance.now() - started) / 1000, failed });
    try {
      const result = await reconciler.reconcile({ ...controller.ctx, log }, key);
      observe(false);
      failures.delete(id);
      const after = result?.requeueAfterMs;
      if (after !== undefined && Number.isFinite(after)) queue.addAfter(key, Math.max(0, after));
    } catch (error) {
      observe(!(error instanceof ObjectNotFoundError));
      // An object written to vanished mid-reconcile (a pod deleted while being bound): the deletion's own
      // notification brings the key back if anything is left to do; it is a race, not a failure to report.
      if (error instanceof ObjectNotFoundError) {
        failures.delete(id);
        log.debug({ err: error.message }, "an object vanished during the reconcile");
        return;
      }
      if (error instanceof CapstanError && !error.transient) {
        await this.#park(controller, key, error, log);
        return;
      }
      const attempt = failures.get(id) ?? 0;
      failures.set(id, attempt + 1);
      const delayMs = backoffDelay(attempt, this.#backoff);
      if (error instanceof CapstanError) log.warn({ err: error.message, code: error.code, attempt: attempt + 1, retryInMs: delayMs }, "reconcile failed; retrying");
      else log.error({ err: error, attempt: attempt + 1, retryInMs: delayMs }, "reconcile failed unexpectedly; retrying");
      queue.addAfter(key, delayMs);
    }
  }

  /** A terminal error: recorded as an event, not retried until the object changes. */
  async #park(controller: Controller, key: ObjectKey, error: CapstanError, log: Logger): Promise<void> {
    const id = keyId(key);
    controller.failures.delete(id);
    log.error({ err: error.message, code: error.code }, "reconcile failed; not retrying until the object changes");
    let object: Awaited<ReturnType<DesiredStore["getObject"]>> = null;
    try {
      object = await this.#store.getObject(key);
    } catch (readError) {
      log.warn({ err: messageOf(readError) }, "could not read the object after a failed reconcile");
    }
    await controller.ctx.event({ ...key, uid: object?.uid }, { type: "Warning", reason: "ReconcileError", message: error.message });
    controller.parked.set(id, object?.resourceVersion);
  }

  #context(reconciler: Reconciler, clock: Clock, log: Logger, store: DesiredStore): ReconcileContext {
    return {
      store,
      clock,
      log,
      cronJobRuns: this.#cronJobRuns,
      event: async (about, event) => {
        try {
          await this.#store.recordEvent({
            objectUid: about.uid ?? null,
            kind: about.kind,
            namespace: about.namespace,
            name: about.name,
            type: event.type,
            reason: event.reason,
            message: event.message,
            source: reconciler.name,
            at: this.#clock.now(),
          });
        } catch (error) {
          log.warn({ err: messageOf(error), about: plainKey(about), reason: event.reason }, "could not record an event");
        }
      },
    };
  }

  async #runResyncLoop(): Promise<void> {
    const signal = this.#stopping.signal;
    while (!signal.aborted) {
      await this.#clock.sleep(this.#resyncIntervalMs, signal);
      if (signal.aborted) return;
      await this.resync();
    }
  }

  /**
   * Enqueues every live object of each reconciler's kind, as after a lost
   * LISTEN connection. Keys in back-off keep their scheduled retry, and keys
   * parked after a terminal error stay parked unless the object changed.
   */
  async resync(): Promise<void> {
    await Promise.all(
      this.#controllers.map(async (controller) => {
        try {
          this.#enqueueListed(controller, await this.#list(controller));
        } catch (error) {
          controller.ctx.log.warn({ err: messageOf(error) }, "resync failed; retrying at the next interval");
        }
      }),
    );
  }

  /** Every object of the reconciler's kind. The listing stays open (primed.beginListing) until #enqueueListed ends it. */
  async #list(controller: Controller): Promise<Listed[]> {
    controller.primed.beginListing();
    try {
      const objects = await this.#store.listObjects({ kind: controller.reconciler.kind });
      return objects.map((object) => ({ key: plainKey(object), object }));
    } catch (error) {
      controller.primed.endListing();
      throw error;
    }
  }

  #enqueueListed(controller: Controller, listed: Listed[]): void {
    try {
      this.#enqueueListedObjects(controller, listed);
    } finally {
      controller.primed.endListing();
    }
  }

  #enqueueListedObjects(controller: Controller, listed: Listed[]): void {
    if (this.#stopped) return;
    const { failures, parked, queue, primed } = controller;
    const live = new Set<string>();
    for (const { key, object } of listed) {
      const { resourceVersion } = object;
      const id = keyId(key);
      live.add(id);
      if (failures.has(id)) continue;
      if (parked.has(id)) {
        const parkedAt = parked.get(id);
        if (parkedAt === undefined) parked.set(id, resourceVersion);
        if (parkedAt === undefined || parkedAt === resourceVersion) continue;
        parked.delete(id);
      }
      primed.prime(object);
      queue.add(key);
    }
    // A parked object that is gone needs nothing more.
    for (const id of parked.keys()) if (!live.has(id)) parked.delete(id);
  }
}

function plainKey(key: ObjectKey): ObjectKey {
  return { kind: key.kind, namespace: key.namespace, name: key.name };
}
