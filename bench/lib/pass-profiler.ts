/** Where a reconcile pass goes: every reconcile and store call the controllers make, timed while recording is on. */
import type { PgDesiredStore } from "../../src/desired/index.ts";
import type { Reconciler } from "../../src/reconcilers/index.ts";

export interface PassProfile {
  reconciles: Record<string, { keys: number; sumMs: number; maxMs: number }>;
  storeCalls: Record<string, { calls: number; sumMs: number }>;
}

/**
 * Where a pass goes, measured without touching src/: every reconcile and
 * every store call the controllers make is timed while recording is on.
 * Times are wall times of calls that overlap (4 reconciles run at once), so
 * their sums are shares, not a timeline.
 */
export function passProfiler() {
  let on = false;
  let inFlight = 0;
  let profile: PassProfile = { reconciles: {}, storeCalls: {} };
  const round = <T extends Record<string, number>>(entry: T): T =>
    Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, Math.round(value)])) as T;
  return {
    /** Store calls under way (a keysFor's listing runs outside the queues' counts). */
    busy(): boolean {
      return inFlight > 0;
    },

    reset(recording: boolean): void {
      if (recording) profile = { reconciles: {}, storeCalls: {} };
      on = recording;
    },

    snapshot(): PassProfile {
      return {
        reconciles: Object.fromEntries(Object.entries(profile.reconciles).map(([key, value]) => [key, round(value)])),
        storeCalls: Object.fromEntries(
          Object.entries(profile.storeCalls)
            .sort((a, b) => b[1].sumMs - a[1].sumMs)
            .map(([key, value]) => [key, round(value)]),
        ),
      };
    },

    reconciler(inner: Reconciler): Reconciler {
      return {
        ...inner,
        reconcile: async (ctx, key) => {
          if (!on) return inner.reconcile(ctx, key);
          const started = performance.now();
          try {
            return await inner.reconcile(ctx, key);
          } finally {
            const ms = performance.now() - started;
            const entry = (profile.reconciles[inner.kind] ??= { keys: 0, sumMs: 0, maxMs: 0 });
            entry.keys++;
            entry.sumMs += ms;
            entry.maxMs = Math.max(entry.maxMs, ms);
          }
        },
      };
    },

    store(inner: PgDesiredStore): PgDesiredStore {
      return new Proxy(inner, {
        get: (target, property, receiver) => {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            const result: unknown = value.apply(target, args);
            if (!(result instanceof Promise)) return result;
            inFlight++;
            if (!on) return result.finally(() => inFlight--);
            const started = performance.now();
            const filter = args[0] as { kind?: string; ownerUid?: string } | undefined;
            const name =
              property === "listObjects"
                ? `listObjects(${filter?.kind ?? "*"}${filter?.ownerUid ? ", owner" : ""})`
                : property === "getObject"
                  ? `getObject(${filter?.kind})`
                  : String(property);
            return result.finally(() => {
              inFlight--;
              const entry = (profile.storeCalls[name] ??= { calls: 0, sumMs: 0 });
              entry.calls++;
              entry.sumMs += performance.now() - started;
            });
          };
        },
      });
    },
  };
}
