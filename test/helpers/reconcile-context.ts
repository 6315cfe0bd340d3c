import type { Clock } from "../../src/clock.ts";
import type { DesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";

/**
 * The context a controller hands its reconcilers, for tests that drive one by
 * hand: events are recorded in `store` under `source`, timed by the store
 * (default) or, with `eventsAt: "clock"`, by the test's `clock`.
 */
export function reconcileContext(store: DesiredStore, clock: Clock, source: string, options: { eventsAt?: "store" | "clock" } = {}): ReconcileContext {
  return {
    store,
    clock,
    log: silentLogger,
    event: (about, event) =>
      store.recordEvent({
        objectUid: about.uid ?? null,
        kind: about.kind,
        namespace: about.namespace,
        name: about.name,
        ...event,
        source,
        ...(options.eventsAt === "clock" ? { at: clock.now() } : {}),
      }),
  };
}
