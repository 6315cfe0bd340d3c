import type { Clock } from "../clock.ts";
import type { ObjectKey } from "../desired/index.ts";

/** `kind/namespace/name`; names and namespaces are DNS labels, so "/" cannot occur in them. */
export function keyId(key: ObjectKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}

/** The longest delay a Node timer honours (2^31 - 1 ms). */
export const maxTimerMs = 2_147_483_647;

interface Waiting {
  at: number;
  key: ObjectKey;
  abort: AbortController;
}

/**
 * One reconciler's queue of keys, with client-go workqueue semantics and no
 * policy of its own (retries are decided by the controller):
 *
 * - a key is queued at most once;
 * - a key handed out by `take()` is not handed out again until `done()`; an
 *   `add()` meanwhile marks it dirty and `done()` queues it again;
 * - `addAfter()` waits on the injected clock; of two pending times for one key
 *   the earlier wins, and an immediate `add()` drops a pending delayed one.
 */
export class WorkQueue {
  /** Ready keys in arrival order (a Map keeps insertion order and doubles as the dedup set). */
  readonly #ready = new Map<string, ObjectKey>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Map<string, ObjectKey>();
  readonly #waiting = new Map<string, Waiting>();
  #shutDown = false;

  constructor(
    private readonly clock: Clock,
    /** Called when a key becomes ready to take. */
    private readonly onReady: () => void,
  ) {}

  add(key: ObjectKey): void {
    if (this.#shutDown) return;
    const id = keyId(key);
    this.#cancelWaiting(id);
    if (this.#processing.has(id)) {
      this.#dirty.set(id, key);
      return;
    }
    if (this.#ready.has(id)) return;
    this.#ready.set(id, key);
    this.onReady();
  }

  addAfter(key: ObjectKey, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) return this.add(key);
    // setTimeout fires at once beyond ~24.8 days; waiting that long and asking again is the same to a level-triggered loop.
    ms = Math.min(ms, maxTimerMs);
    const id = keyId(key);
    // Already due sooner: queued now, or to be queued again as soon as its run ends.
    if (this.#ready.has(id) || this.#dirty.has(id)) return;
    const at = this.clock.now().getTime() + ms;
    const existing = this.#waiting.get(id);
    if (existing && existing.at <= at) return;
    existing?.abort.abort();
    const entry: Waiting = { at, key, abort: new AbortController() };
    this.#waiting.set(id, entry);
    void this.clock.sleep(ms, entry.abort.signal).then(() => {
      if (entry.abort.signal.aborted || this.#waiting.get(id) !== entry) return;
      this.#waiting.delete(id);
      this.add(key);
    });
  }

  /** The next ready key, now marked as processing; undefined when none is ready. */
  take(): ObjectKey | undefined {
    for (const [id, key] of this.#ready) {
      this.#ready.delete(id);
      this.#processing.add(id);
      return key;
    }
    return undefined;
  }

  /** Ends the processing of a key taken with `take()`; a key added meanwhile is queued again. */
  done(key: ObjectKey): void {
    const id = keyId(key);
    this.#processing.delete(id);
    const again = this.#dirty.get(id);
    if (again === undefined) return;
    this.#dirty.delete(id);
    this.add(again);
  }

  /** Drops everything not yet handed out, cancels the waits and refuses further adds. */
  shutDown(): void {
    this.#shutDown = true;
    for (const entry of this.#waiting.values()) entry.abort.abort();
    this.#waiting.clear();
    this.#ready.clear();
    this.#dirty.clear();
  }

  get ready(): number {
    return this.#ready.size;
  }

  get processing(): number {
    return this.#processing.size;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  #cancelWaiting(id: string): void {
    const entry = this.#waiting.get(id);
    if (!entry) return;
    entry.abort.abort();
    this.#waiting.delete(id);
  }
}
