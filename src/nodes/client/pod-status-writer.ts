import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { DesiredStore, StatusUpdate, StoredObject } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import type { PodStatus } from "../protocol.ts";
import { storedPodStatus } from "./node-status.ts";

export interface PodStatusWriterOptions {
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  /** Pod statuses are written in batches at most this often (default 200 ms). */
  flushMs?: number;
}

/**
 * The NodeManager's companion for pod statuses: the agents' reports are
 * queued per pod (the latest wins) and written to the store in one batch at
 * most every `flushMs`. It also keeps when each pod's readiness last flipped,
 * which the agent does not report (it reports the state, not the moment).
 */
export class PodStatusWriter {
  readonly #options: PodStatusWriterOptions;
  readonly #pending = new Map<string, StatusUpdate>();
  /** Per pod uid: its readiness and since when (the agent reports the state, not the moment it changed). */
  readonly #readiness = new Map<string, { ready: boolean; since: Date }>();
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(options: PodStatusWriterOptions) {
    this.#options = options;
  }

  /** Readiness times survive a control-plane restart: they are taken from the stored status the first time a pod is seen. */
  seedReadiness(pod: StoredObject): void {
    if (this.#readiness.has(pod.uid)) return;
    const ready = (pod.status as { conditions?: { type: string; status: string; lastTransitionTime?: string | null }[] }).conditions?.find(
      (condition) => condition.type === "Ready",
    );
    if (!ready?.lastTransitionTime) return;
    this.#readiness.set(pod.uid, { ready: ready.status === "True", since: new Date(ready.lastTransitionTime) });
  }

  /** Queues the statuses a node at `hostIP` reported; the batch is written soon. */
  queue(hostIP: string, changed: readonly PodStatus[]): void {
    for (const pod of changed) {
      const previous = this.#readiness.get(pod.uid);
      const readiness = previous?.ready === pod.ready ? previous : { ready: pod.ready, since: this.#options.clock.now() };
      this.#readiness.set(pod.uid, readiness);
      this.#pending.set(pod.uid, {
        key: { kind: "Pod", namespace: pod.namespace, name: pod.name },
        uid: pod.uid,
        status: storedPodStatus(pod, hostIP, readiness.since),
      });
    }
    if (this.#flushTimer || this.#pending.size === 0) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.flush();
    }, this.#options.flushMs ?? 200);
  }

  /** The pod is no longer reported: its readiness history goes with it. */
  forget(uid: string): void {
    this.#readiness.delete(uid);
  }

  /** Writes whatever is queued now (also what `stop` does last). */
  async flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    try {
      await this.#options.store.updateStatuses(batch);
    } catch (error) {
      // Statuses are level-triggered too: the next change or resync writes them again.
      this.#options.log.warn({ pods: batch.length, err: messageOf(error) }, "could not write pod statuses");
    }
  }
}
