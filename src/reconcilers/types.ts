import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { DesiredStore, ObjectKey } from "../desired/index.ts";

/**
 * The one reconciler contract (DESIGN.md, house style 5): given a key, bring
 * the world one step closer to the desired state and say when to look again.
 * Throw a CapstanError: `transient` ones are retried with per-key back-off by
 * the controller runtime; terminal ones are recorded (condition + event) and
 * not retried until the object changes.
 */
export interface ReconcileResult {
  /** Look at this key again after this long even if nothing changes (deadlines, back-off, minReadySeconds). */
  requeueAfterMs?: number;
}

export interface EventInput {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface ReconcileContext {
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  /** Records an event about the object being reconciled (folded with repeats by the store). */
  event(about: ObjectKey & { uid?: string }, event: EventInput): Promise<void>;
  /** Told of CronJob runs as the CronJob and Job controllers start and finish them (/metrics). */
  cronJobRuns?: CronJobRunObserver;
}

export interface Reconciler {
  /** The kind whose keys this reconciler is given. */
  readonly kind: string;
  /** The component name recorded as the source of its events, e.g. "deployment-controller". */
  readonly name: string;
  /**
   * The clock of this reconciler's decisions (`ctx.clock`) and of its
   * requeue timers, when it is not the manager's: the CronJob controller's
   * under the end-to-end test hook (src/cron-test-clock.ts). Events keep the
   * manager's clock.
   */
  readonly ownClock?: Clock;
  reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult>;
  /**
   * Keys of this reconciler's kind to enqueue when an object changes
   * (including its own kind). Default: the changed object's own key when its
   * kind is this reconciler's. A ReplicaSet controller, say, maps a Pod change
   * to its owner ReplicaSet's key.
   */
  keysFor?(change: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> | ObjectKey[];
}

/** What the store's NOTIFY says about a write (migrations 001/003). */
export interface ObjectChange {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  /** The owner's uid (migration 004), so that keysFor maps a Pod to its ReplicaSet without re-reading a row that may be gone. */
  ownerUid?: string | null;
  resourceVersion: number;
  op: "INSERT" | "UPDATE" | "DELETE";
  deleted: boolean;
  statusOnly: boolean;
}

/** What the controller runtime reports of every reconcile (/metrics): which loop, how long, whether it failed. */
export interface ReconcileObserver {
  reconciled(run: { kind: string; controller: string; seconds: number; failed: boolean }): void;
}

/** A CronJob's run: its Job created, then that Job finished; each told once (/metrics). */
export interface CronJobRunObserver {
  cronJobRun(run: { namespace: string; cronJob: string; outcome: "created" | "succeeded" | "failed" }): void;
}
