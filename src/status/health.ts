import { Hono } from "hono";
import { messageOf } from "../errors.ts";
import type { Leadership } from "./status-overview.ts";
import type { Metrics } from "./metrics/index.ts";
import type { StatusEnv } from "./request-log.ts";
import { StoreDeadlineError, storeWithin } from "./store-deadline.ts";

export interface HealthOptions {
  /** Checks that the store answers, for /readyz. */
  storeReachable: () => Promise<boolean>;
  /** Which replica leads; /readyz wants one known. Without it this process counts as the leader. */
  leadership?: () => Leadership;
  /** How long /readyz waits for the store before answering 503 (default 2 s). */
  readyTimeoutMs?: number;
  /** Served at /metrics; without them /metrics answers 404. */
  metrics?: Metrics;
}

/**
 * What probes and scrapers ask: /healthz (the process answers), /readyz (the
 * store answers in time and a leader is known) and /metrics. Unauthenticated,
 * so they say which check failed but never the driver's message (a host and
 * port, say): that goes to the log.
 */
export function healthRoutes(options: HealthOptions): Hono<StatusEnv> {
  const routes = new Hono<StatusEnv>();
  routes.get("/healthz", (c) => c.text("ok"));

  // One line per failed check: a prober's log then tells why without a second request.
  routes.get("/readyz", async (c) => {
    const failed: string[] = [];
    const timeoutMs = options.readyTimeoutMs ?? 2_000;
    const store = await storeWithin(Promise.resolve().then(() => options.storeReachable()), timeoutMs).then(
      (answered) => (answered ? null : "the check query returned nothing"),
      (error: unknown) => {
        c.get("log").debug({ check: "store", err: messageOf(error) }, "not ready");
        return error instanceof StoreDeadlineError ? `no answer within ${timeoutMs} ms` : "the query failed";
      },
    );
    if (store) failed.push(`store unreachable: ${store}`);
    // Between a leader's death and a follower taking over nobody acts on changes: not ready.
    const leader = options.leadership ? options.leadership().leader : { replica: "self" };
    if (!leader) failed.push("no leader known");
    return failed.length === 0 ? c.text("ok") : c.text(failed.join("\n"), 503);
  });

  const metrics = options.metrics;
  if (metrics) {
    routes.get("/metrics", async (c) => {
      const { contentType, body } = await metrics.exposition();
      return c.body(body, 200, { "Content-Type": contentType });
    });
  }
  return routes;
}
