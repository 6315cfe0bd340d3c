import type { Context } from "hono";
import { Hono } from "hono";
import { systemClock, type Clock } from "../../clock.ts";
import { BadRequestError, CapstanError, toHttpStatus } from "../../errors.ts";
import type { Logger } from "../../logging.ts";
import type { DesiredStore, RolloutLog } from "../../desired/index.ts";
import type { RollbackService } from "../../gitsync/index.ts";
import type { LiveUpdates } from "../live/index.ts";
import { nodeDetail } from "../node-detail.ts";
import type { LogSource } from "../nodes-api.ts";
import { revisionDetail } from "../revisions.ts";
import { rollbackAction, syncAction, type ActionOptions } from "./actions.tsx";
import { assetRoutes } from "./assets.ts";
import { csrfToken } from "./csrf.ts";
import type { PageContext } from "./layout.tsx";
import { ErrorPage, NotFoundPage } from "./messages.tsx";
import { NodePage } from "./node-page.tsx";
import { eventQuerySchema, loadOverview, loadOverviewBase } from "./overview.ts";
import { OverviewCache } from "./overview-cache.ts";
import { OverviewPage } from "./overview-page.tsx";
import { RevisionPage } from "./revision-page.tsx";
import { nonceOf, pageSecurityHeaders, type PageEnv } from "./security.ts";
import { loadWorkloadPage } from "./workload-data.ts";
import { WorkloadPage } from "./workload-page.tsx";

export interface PageOptions {
  store: DesiredStore;
  log: Logger;
  rollouts?: RolloutLog;
  rollback?: Pick<RollbackService, "rollback">;
  nodes?: LogSource;
  token?: string;
  syncNow?: () => void;
  clock?: Clock;
  /** The change feed: with it the overview's data is cached between changes. */
  live?: LiveUpdates;
  /** How long a pod's log tail may take before the page says it is unavailable. */
  logTimeoutMs?: number;
}

/**
 * The server-rendered page (hono JSX: every text escaped) and its detail
 * pages and forms. Works without JavaScript; /assets/page.js only keeps it
 * live. Every HTML answer carries the strict CSP of security.ts.
 */
export function pageRoutes(options: PageOptions): Hono<PageEnv> {
  const clock = options.clock ?? systemClock;
  const page = new Hono<PageEnv>();
  const context = (c: Context<PageEnv>): PageContext => ({ nonce: nonceOf(c), csrf: csrfToken(c), actionsEnabled: Boolean(options.token), now: clock.now() });
  const cache = options.live ? new OverviewCache(() => loadOverviewBase(options), options.live, clock) : undefined;
  const actions: ActionOptions = { token: options.token, rollback: options.rollback, syncNow: options.syncNow, log: options.log, pageContext: context };

  page.onError((error, c) => {
    const status = toHttpStatus(error);
    if (status >= 500) options.log.error({ err: error.message, path: c.req.path }, "page failed");
    const message = error instanceof CapstanError || status < 500 ? error.message : "internal error";
    const page = context(c as Context<PageEnv>);
    // An unknown workload, node or commit: the detail functions say which with a NotFoundError.
    if (status === 404) return c.html(<NotFoundPage page={page} what={`${message.charAt(0).toUpperCase()}${message.slice(1)}.`} />, 404);
    return c.html(<ErrorPage page={page} status={status} message={message} />, status as 400);
  });

  page.route("/", assetRoutes());

  page.get("/", pageSecurityHeaders, async (c) => {
    const parsed = eventQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new BadRequestError(`bad query parameters: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    const overview = await loadOverview(options, parsed.data, cache && (() => cache.get()));
    return c.html(<OverviewPage page={context(c)} overview={overview} />);
  });

  // The detail pages show the data of their API twins (workloadDetail, nodeDetail, revisionDetail), which throw NotFoundError for unknown objects.
  page.get("/workloads/:kind/:namespace/:name", pageSecurityHeaders, async (c) => {
    const key = { kind: c.req.param("kind"), namespace: c.req.param("namespace"), name: c.req.param("name") };
    const data = await loadWorkloadPage({ store: options.store, rollouts: options.rollouts, logs: options.nodes, logTimeoutMs: options.logTimeoutMs ?? 1500, logLines: 40 }, key);
    return c.html(<WorkloadPage page={context(c)} data={data} />);
  });

  page.get("/nodes/:name", pageSecurityHeaders, async (c) => {
    const detail = await nodeDetail(options.store, c.req.param("name"));
    return c.html(<NodePage page={context(c)} detail={detail} />);
  });

  page.get("/revisions/:sha", pageSecurityHeaders, async (c) => {
    const revision = await revisionDetail(options.store, options.rollouts, c.req.param("sha"));
    return c.html(<RevisionPage page={context(c)} revision={revision} />);
  });

  page.post("/actions/rollback", pageSecurityHeaders, (c) => rollbackAction(c, actions));
  page.post("/actions/sync", pageSecurityHeaders, (c) => syncAction(c, actions));

  return page;
}

/** The HTML 404 of any path nobody serves (the JSON API keeps its JSON 404). */
export async function pageNotFound(plain: Context, options: Pick<PageOptions, "token" | "clock">): Promise<Response> {
  const c = plain as unknown as Context<PageEnv>;
  await pageSecurityHeaders(c, async () => {
    const page: PageContext = { nonce: nonceOf(c), csrf: csrfToken(c), actionsEnabled: Boolean(options.token), now: (options.clock ?? systemClock).now() };
    c.res = await c.html(<NotFoundPage page={page} what={`Nothing is served at ${c.req.path}.`} />, 404);
  });
  return c.res;
}
