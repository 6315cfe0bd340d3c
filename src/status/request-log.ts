import { randomUUID } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "../logging.ts";

/** What every request carries for its handlers: `c.get("reqId")`, and `c.get("log")`, a child logger bound to it. */
export interface RequestVariables {
  reqId: string;
  log: Logger;
}
export type StatusEnv = { Variables: RequestVariables };

/** A caller's id is kept only when short and plain: it is echoed in a header and written to every log line. */
const acceptedRequestId = /^[A-Za-z0-9._:-]{1,64}$/;

/** Endpoints polled by probes and scrapers, and the long-lived event stream: one info line each would drown the log. */
const quietPaths = new Set(["/healthz", "/readyz", "/metrics", "/api/events/stream"]);

export function requestIdOf(header: string | undefined): string {
  return header !== undefined && acceptedRequestId.test(header) ? header : randomUUID();
}

/** Told of every request once answered (/metrics). `route` is the matched pattern, never the raw path. */
export interface RequestObserver {
  answered(request: { method: string; route: string; status: number; seconds: number }): void;
}

const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * The route pattern that answered (`/api/pods/:namespace/:name/logs`), so
 * that a metric label has one value per route, not per URL; "unmatched" for
 * a 404 no route took (any path a client sends would otherwise be a label).
 */
function routeOf(c: Context): string {
  const last = matchedRoutes(c).at(-1);
  return last && (last.method !== "ALL" || c.res.status !== 404) ? last.path : "unmatched";
}

/**
 * Gives each request an id (the caller's `X-Request-Id` when acceptable,
 * else a new UUID), echoes it in the answer's `X-Request-Id`, hands the
 * handlers a logger bound to it, and logs one line per request: method, path
 * (never the query string, which may carry a token), route, status and
 * duration; `observer` is told the same, for the request metrics.
 * Headers are never logged, so neither Authorization nor cookies can be.
 */
export function requestLog(log: Logger, observer?: RequestObserver): MiddlewareHandler<StatusEnv> {
  return async (c, next) => {
    const reqId = requestIdOf(c.req.header("x-request-id"));
    const requestLog = log.child({ reqId });
    c.set("reqId", reqId);
    c.set("log", requestLog);
    c.header("X-Request-Id", reqId);
    const started = performance.now();
    await next();
    if (!c.res.headers.has("X-Request-Id")) {
      // A Response built by hand (a stream, a proxied answer) skipped c.header: set it on the Response, if it lets us.
      try {
        c.res.headers.set("X-Request-Id", reqId);
      } catch {
        // Immutable headers: the id is still in the log.
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const route = routeOf(c);
    observer?.answered({ method: knownMethods.has(c.req.method) ? c.req.method : "other", route, status: c.res.status, seconds });
    const line = { method: c.req.method, path: c.req.path.slice(0, 200), route, status: c.res.status, durationMs: Math.round(seconds * 10_000) / 10 };
    if (quietPaths.has(c.req.path)) requestLog.debug(line, "request");
    else requestLog.info(line, "request");
  };
}
