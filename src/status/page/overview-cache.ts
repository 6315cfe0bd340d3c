import type { Clock } from "../../clock.ts";
import type { LiveUpdates } from "../live/index.ts";
import type { OverviewBase } from "./overview.ts";

/**
 * The overview's data between two changes. Reading it means reading and
 * parsing every object row (most of a request's time); the change feed that
 * drives the live page says when it went stale, so it is read once per
 * change instead of once per request. A maximum age bounds what a missed
 * notification could cost; without an open feed nothing is kept.
 */
export class OverviewCache {
  private current: { loadedAt: number; value: Promise<OverviewBase> } | undefined;

  constructor(
    private readonly load: () => Promise<OverviewBase>,
    private readonly live: Pick<LiveUpdates, "watch" | "isOpen">,
    private readonly clock: Clock,
    private readonly maxAgeMs = 5_000,
  ) {
    // Events are read per request (they are filtered and paged), so their channel changes nothing here.
    live.watch((channel) => {
      if (channel !== "events") this.invalidate();
    });
  }

  get(): Promise<OverviewBase> {
    if (!this.live.isOpen) return this.load();
    const now = this.clock.now().getTime();
    if (!this.current || now - this.current.loadedAt > this.maxAgeMs) {
      // A load under way when a change arrives is dropped by invalidate(): later callers start a fresh one.
      const entry = { loadedAt: now, value: this.load() };
      entry.value.catch(() => {
        if (this.current === entry) this.current = undefined;
      });
      this.current = entry;
    }
    return this.current.value;
  }

  invalidate(): void {
    this.current = undefined;
  }
}
