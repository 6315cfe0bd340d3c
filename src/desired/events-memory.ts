import type { NewEvent, StoredEvent } from "./records.ts";
import type { EventQuery } from "./store.ts";

/** A repeat after longer than this without the event starts a fresh count (record_event's p_window). */
const foldWindowMs = 60 * 60 * 1000;

type EventKey = Pick<StoredEvent, "kind" | "namespace" | "name" | "type" | "reason" | "message" | "source">;

const sameKey = (a: EventKey, b: EventKey): boolean =>
  a.kind === b.kind &&
  a.namespace === b.namespace &&
  a.name === b.name &&
  a.type === b.type &&
  a.reason === b.reason &&
  a.message === b.message &&
  a.source === b.source;

const newestFirst = (a: StoredEvent, b: StoredEvent): number => b.lastTime.getTime() - a.lastTime.getTime() || b.id - a.id;

/** The in-memory events of MemoryDesiredStore, folding repeats exactly as record_event() does. */
export class MemoryEventLog {
  private readonly events: StoredEvent[] = [];
  private nextId = 1;

  record(event: NewEvent): void {
    const at = event.at ?? new Date();
    const { kind, namespace, name, type, reason, message, source } = event;
    const key: EventKey = { kind, namespace, name, type, reason, message, source };
    const same = this.events.find((stored) => sameKey(stored, key));
    if (!same) {
      this.events.push({ id: this.nextId++, objectUid: event.objectUid ?? null, ...key, count: 1, firstTime: at, lastTime: at });
      return;
    }
    const quiet = same.lastTime.getTime() < at.getTime() - foldWindowMs;
    same.objectUid = event.objectUid ?? same.objectUid;
    same.count = quiet ? 1 : same.count + 1;
    same.firstTime = quiet ? at : same.firstTime;
    same.lastTime = at > same.lastTime ? at : same.lastTime;
  }

  purge(before: Date): number {
    const kept = this.events.filter((event) => event.lastTime >= before);
    const removed = this.events.length - kept.length;
    this.events.splice(0, this.events.length, ...kept);
    return removed;
  }

  list(options: EventQuery): StoredEvent[] {
    let after: StoredEvent | undefined;
    if (options.before !== undefined) {
      after = this.events.find((event) => event.id === options.before);
      if (!after) return [];
    }
    return this.events
      .filter((event) => options.kind === undefined || event.kind === options.kind)
      .filter((event) => options.namespace === undefined || event.namespace === options.namespace)
      .filter((event) => options.name === undefined || event.name === options.name)
      .filter((event) => after === undefined || newestFirst(after, event) < 0)
      .sort(newestFirst)
      .slice(0, options.limit ?? 50)
      .map((event) => structuredClone(event));
  }
}
