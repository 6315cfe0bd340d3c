import type { PodStatus } from "../protocol.ts";

export type StatusListener = (generation: number, changed: PodStatus[], removed: string[]) => void;

/**
 * The agent's pod status events. Changes are coalesced per tick: one event
 * carries every pod that changed and every pod that is gone, each with its
 * status as of the event, not as of the change.
 */
export class StatusEvents {
  /** The status of a pod the agent runs now; undefined once it is gone. */
  readonly #status: (uid: string) => PodStatus | undefined;
  readonly #generation: () => number;
  readonly #listeners = new Set<StatusListener>();
  readonly #changed = new Set<string>();
  readonly #removed = new Set<string>();
  #flushScheduled = false;

  constructor(source: { status: (uid: string) => PodStatus | undefined; generation: () => number }) {
    this.#status = source.status;
    this.#generation = source.generation;
  }

  listen(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  changed(uid: string): void {
    this.#changed.add(uid);
    this.#scheduleFlush();
  }

  removed(uid: string): void {
    this.#removed.add(uid);
    this.#scheduleFlush();
  }

  /** No more events to anyone (the agent is closing). */
  close(): void {
    this.#listeners.clear();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const changed = [...this.#changed].flatMap((uid) => {
        const status = this.#status(uid);
        return status ? [status] : [];
      });
      // A pod replaced under the same uid (a changed spec) is not gone.
      const removed = [...this.#removed].filter((uid) => this.#status(uid) === undefined);
      this.#changed.clear();
      this.#removed.clear();
      if (changed.length === 0 && removed.length === 0) return;
      for (const listener of this.#listeners) listener(this.#generation(), changed, removed);
    });
  }
}
