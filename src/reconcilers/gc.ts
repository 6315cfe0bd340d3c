import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import type { DesiredStore, StoredObject } from "../desired/index.ts";
import { messageOf } from "../errors.ts";

/**
 * Garbage collection, as Kubernetes' garbage collector with background
 * cascading deletion: an object whose owner is gone (deleted, or never
 * existed) is deleted in turn, so deleting a Deployment removes its
 * ReplicaSets, then their Pods, whose processes the node links stop.
 * Objects in a namespace that no longer exists go too. Git-sourced objects
 * removed from Git are pruned by the sync itself (DesiredStore.applyRevision).
 * Soft-deleted rows are purged once nobody can still need them.
 */
export function planGarbage(objects: readonly StoredObject[]): StoredObject[] {
  const live = new Set(objects.map((object) => object.uid));
  const namespaces = new Set(objects.filter((object) => object.kind === "Namespace").map((object) => object.name));
  namespaces.add("default");
  return objects.filter(
    (object) =>
      object.source === "controller" &&
      ((object.ownerUid !== null && !live.has(object.ownerUid)) || (object.namespace !== "" && !namespaces.has(object.namespace))),
  );
}

export interface GarbageCollectorOptions {
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  intervalMs?: number;
  /** Soft-deleted rows older than this are removed for good. */
  purgeAfterMs?: number;
  /** Events not seen for this long are removed (default an hour). */
  eventRetentionMs?: number;
}

export class GarbageCollector {
  readonly #options: GarbageCollectorOptions;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(options: GarbageCollectorOptions) {
    this.#options = options;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Sweep soon: something was deleted. */
  kick(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
  }

  /** One pass: delete what lost its owner (repeating, so a chain Deployment → ReplicaSet → Pod goes in one pass), purge old rows. */
  async sweepOnce(): Promise<number> {
    const { store, clock, log } = this.#options;
    let deleted = 0;
    for (let round = 0; round < 5; round += 1) {
      const garbage = planGarbage(await store.listObjects());
      if (garbage.length === 0) break;
      for (const object of garbage) {
        if (await store.deleteObject({ kind: object.kind, namespace: object.namespace, name: object.name }, { uid: object.uid })) deleted += 1;
      }
      log.info({ count: garbage.length }, "garbage-collected objects whose owner or namespace is gone");
    }
    await store.purgeDeleted(new Date(clock.now().getTime() - (this.#options.purgeAfterMs ?? 10 * 60_000)));
    // Events are kept an hour after they were last seen, as Kubernetes keeps them; without this the table only grows.
    await store.purgeEvents(new Date(clock.now().getTime() - (this.#options.eventRetentionMs ?? 60 * 60_000)));
    return deleted;
  }

  async #run(): Promise<void> {
    const interval = this.#options.intervalMs ?? 5_000;
    while (!this.#stop.signal.aborted) {
      try {
        await this.sweepOnce();
      } catch (error) {
        this.#options.log.warn({ err: messageOf(error) }, "garbage collection pass failed; retrying");
      }
      const woken = new AbortController();
      this.#wake = () => woken.abort();
      await this.#options.clock.sleep(interval, AbortSignal.any([this.#stop.signal, woken.signal]));
      this.#wake = undefined;
    }
  }
}
