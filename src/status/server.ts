import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { CapstanError, toHttpStatus } from "../errors.ts";
import type { Logger } from "../logging.ts";
import type { DesiredStore, RolloutLog } from "../desired/index.ts";
import { webhookRoute, type RollbackService } from "../gitsync/index.ts";
import { actionRoutes } from "./actions-api.ts";
import { historyRoutes } from "./history-api.ts";
import { apiRoutes } from "./api.ts";
import type { Leadership } from "./status-overview.ts";
import { eventRoutes } from "./events-api.ts";
import { nodeRoutes, type LogSource } from "./nodes-api.ts";
import { revisionRoutes } from "./revisions-api.ts";
import { workloadRoutes } from "./workloads-api.ts";
import { healthRoutes } from "./health.ts";
import type { Metrics } from "./metrics/index.ts";
import { refuseNulInput } from "./request-input.ts";
import { requestLog, type StatusEnv } from "./request-log.ts";
import type { Clock } from "../clock.ts";
import { liveRoutes, type LiveUpdates } from "./live/index.ts";
import { pageNotFound, pageRoutes } from "./page/index.ts";
import { notificationRoutes, type NotificationSource } from "./notifications-api.ts";

export interface StatusServerOptions {
  store: DesiredStore;
  log: Logger;
  /** Checks that the store answers, for /readyz. */
  storeReachable: () => Promise<boolean>;
  webhook?: { secret: string; branch: string; onPush: () => void };
  /** Which replica leads; /readyz wants one known. Without it this process counts as the leader. */
  leadership?: () => Leadership;
  /** The node links, for container logs; without them the logs endpoint says so. */
  nodes?: LogSource;
  /** Rollout history and rollbacks; without them those endpoints answer 404. */
  rollouts?: RolloutLog;
  /** What the API asks of rollbacks: a diff, and a rollback commit pushed. */
  rollback?: Pick<RollbackService, "diff" | "rollback">;
  /** CAPSTAN_TOKEN: every action requires it (src/status/auth.ts); unset → actions are disabled. */
  token?: string;
  /** "Sync now": asks the leader's Git sync to fetch at once (an action: needs the token). */
  syncNow?: () => void;
  /** This control plane's metrics, served at /metrics; without them /metrics answers 404. */
  metrics?: Metrics;
  /** How long /readyz waits for the store before answering 503 (default 2 s). */
  readyTimeoutMs?: number;
  /** Store changes fanned out to /api/events/stream; without it that endpoint answers 404 and the page is not live. */
  live?: LiveUpdates;
  /** For the page's ages ("3m ago"); the system clock by default. */
  clock?: Clock;
  /** Notification deliveries (the outbox); without it /api/notifications answers 404. */
  notifications?: NotificationSource;
}

/** The HTTP face of the control plane: the page, health, the JSON API, live updates and the Git webhook. */
export function createStatusApp(options: StatusServerOptions): Hono<StatusEnv> {
  const app = new Hono<StatusEnv>();
  app.use(requestLog(options.log, options.metrics));
  app.use(refuseNulInput);

  app.onError((error, c) => {
    const status = toHttpStatus(error);
    if (status >= 500) (c.get("log") ?? options.log).error({ err: error.message, path: c.req.path }, "request failed");
    const message = error instanceof CapstanError || status < 500 ? error.message : "internal error";
    return c.json({ error: message }, status as 400);
  });

  app.route("/", healthRoutes(options));

  if (options.webhook) {
    const { secret, branch, onPush } = options.webhook;
    app.post("/hooks/git", webhookRoute({ secret, branch, onPush }));
  }

  app.route("/api", apiRoutes(options.store, options.leadership));
  app.route("/api", nodeRoutes(options.store, options.nodes));
  app.route("/api", revisionRoutes(options.store, options.rollouts));
  app.route("/api", workloadRoutes(options.store, options.rollouts));
  app.route("/api", eventRoutes(options.store));
  app.route("/api", historyRoutes(options.store, options.rollouts, options.rollback));
  app.route("/api", actionRoutes({ rollback: options.rollback, syncNow: options.syncNow, token: options.token }));
  app.route("/api", liveRoutes(options.live));
  app.route("/api", notificationRoutes(options.notifications));
  app.route("/", pageRoutes(options));
  app.notFound((c) => (c.req.path.startsWith("/api/") ? c.json({ error: `no such endpoint: ${c.req.method} ${c.req.path}` }, 404) : pageNotFound(c, options)));
  return app;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Listens on host:port (port 0 = any free port) and resolves once bound. */
export function listen(app: Pick<Hono, "fetch">, host: string, port: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    try {
      server = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
        resolve({
          url: `http://${host.includes(":") ? `[${host}]` : host}:${info.port}`,
          close: () =>
            new Promise<void>((done) => {
              if ("closeAllConnections" in server) server.closeAllConnections();
              server.close(() => done());
            }),
        });
      });
      server.once("error", reject);
    } catch (error) {
      reject(error);
    }
  });
}
