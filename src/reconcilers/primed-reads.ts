import type { DesiredStore, ObjectKey, StoredObject } from "../desired/index.ts";
import { keyId } from "./workqueue.ts";

/**
 * The objects a resync listed, each handed to the next reconcile of its own
 * key in place of that reconcile's `getObject` of it: a full pass then reads
 * each object once, in the listing, instead of once more per key (30,000
 * round trips for 30,000 pods).
 *
 * No staler than a fresh read, as far as the controllers can tell: every
 * store change (routed through `invalidate`, before any `keysFor`) drops the
 * changed key's entry, and a key changed while a listing was under way is
 * not primed from it, since the listing may predate the change. A change
 * whose notification has not arrived yet is the same race a fresh read has,
 * and its notification enqueues the key again. An entry lives at most until
 * the end of the key's next run (`forget`), used or not.
 */
export class PrimedReads {
  readonly #objects = new Map<string, StoredObject>();
  /** Keys changed while a listing was under way; cleared when none is. */
  readonly #changedWhileListing = new Set<string>();
  #listings = 0;

  beginListing(): void {
    this.#listings++;
  }

  /** Ends a listing begun with `beginListing`; `prime` is called for the objects it enqueued, between the two. */
  endListing(): void {
    this.#listings = Math.max(0, this.#listings - 1);
    if (this.#listings === 0) this.#changedWhileListing.clear();
  }

  /** Keeps a listed object for its key's next run, unless the key changed since the listing began. */
  prime(object: StoredObject): void {
    const id = keyId(object);
    if (this.#changedWhileListing.has(id)) return;
    this.#objects.set(id, object);
  }

  /** A store change: the listed object, if any, is no longer the stored one. */
  invalidate(key: ObjectKey): void {
    const id = keyId(key);
    this.#objects.delete(id);
    if (this.#listings > 0) this.#changedWhileListing.add(id);
  }

  /** The key's run ended: whatever was primed for it is not kept for a later one. */
  forget(key: ObjectKey): void {
    this.#objects.delete(keyId(key));
  }

  clear(): void {
    this.#objects.clear();
  }

  get size(): number {
    return this.#objects.size;
  }

  /** `store` with `getObject` answered from the primed objects first (each once); everything else is the store's. */
  view(store: DesiredStore): DesiredStore {
    const take = (key: ObjectKey): StoredObject | undefined => {
      const id = keyId(key);
      const object = this.#objects.get(id);
      if (object) this.#objects.delete(id);
      return object;
    };
    // A Proxy rather than a subclass or a copy: stores keep private state (#pool), so every other method must run on the store itself.
    return new Proxy(store, {
      get(target, property) {
        if (property === "getObject") {
          return (key: ObjectKey) => {
            const primed = take(key);
            return primed ? Promise.resolve(primed) : target.getObject(key);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}
