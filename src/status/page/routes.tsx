import type { Context } from "hono";
import { Hono } from "hono";
import { z } from "zod";
import { systemClock, type Clock } from "../../clock.ts";
import { BadRequestError, CapstanError, toHttpStatus } from "../../errors.ts";
import type { Logger } from "../../logging.ts";
import type { DesiredStore, RolloutLog } from "../../desired/index.ts";
import type { RollbackService } from "../../gitsync/index.ts";
import { nodeListItems, type LogSource } from "../nodes-api.ts";
import { podSummaries } from "../workloads.ts";
import { rollbackAction, syncAction, type ActionOptions } from "./actions.tsx";
import { assetRoutes } from "./assets.ts";
import { csrfToken } from "./csrf.ts";
import type { PageContext } from "./layout.tsx";
import { ErrorPage, NotFoundPage } from "./messages.tsx";
import { NodePage } from "./node-page.tsx";
import { eventQuerySchema, loadOverview } from "./overview.ts";
import { OverviewPage } from "./overview-page.tsx";
import { RevisionPage } from "./revision-page.tsx";
import { nonceOf, pageSecurityHeaders, type PageEnv } from "./security.ts";
import { loadWorkload } from "./workload-data.ts";
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
  /** How long a pod's log tail may take before the page says it is unavailable. */
  logTimeoutMs?: number;
}

const shaParamSchema = z.string().regex(/^[0-9a-f]{4,40}$/);

/**
 * The server-rendered page (hono JSX: every text escaped) and its detail
 * pages and forms. Works without JavaScript; /assets/page.js only keeps it
 * live. Every HTML answer carries the strict CSP of security.ts.
 */
export function pageRoutes(options: PageOptions): Hono<PageEnv> {
  const clock = options.clock ?? systemClock;
  const page = new Hono<PageEnv>();
  const context = (c: Context<PageEnv>): PageContext => ({ nonce: nonceOf(c), csrf: csrfToken(c), actionsEnabled: Boolean(options.token), now: clock.now() });
  const actions: ActionOptions = { token: options.token, rollback: options.rollback, syncNow: options.syncNow, log: options.log, pageContext: context };

  page.onError((error, c) => {
    const status = toHttpStatus(error);
    if (status >= 500) options.log.error({ err: error.message, path: c.req.path }, "page failed");
    const message = error instanceof CapstanError || status < 500 ? error.message : "internal error";
    return c.html(<ErrorPage page={context(c as Context<PageEnv>)} status={status} message={message} />, status as 400);
  });

  page.route("/", assetRoutes());

  page.get("/", pageSecurityHeaders, async (c) => {
    const parsed = eventQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new BadRequestError(`bad query parameters: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    const overview = await loadOverview(options, parsed.data);
    return c.html(<OverviewPage page={context(c)} overview={overview} />);
  });

  page.get("/workloads/:kind/:namespace/:name", pageSecurityHeaders, async (c) => {
    const key = { kind: c.req.param("kind"), namespace: c.req.param("namespace"), name: c.req.param("name") };
    const detail = await loadWorkload({ store: options.store, rollouts: options.rollouts, logs: options.nodes, logTimeoutMs: options.logTimeoutMs ?? 1500, logLines: 40 }, key);
    if (!detail) return c.html(<NotFoundPage page={context(c)} what={`No workload ${key.kind}/${key.namespace}/${key.name}.`} />, 404);
    return c.html(<WorkloadPage page={context(c)} detail={detail} path={c.req.path} />);
  });

  page.get("/nodes/:name", pageSecurityHeaders, async (c) => {
    const name = c.req.param("name");
    const [nodes, pods, events] = await Promise.all([nodeListItems(options.store), podSummaries(options.store), options.store.listEvents({ kind: "Node", name, limit: 30 })]);
    const node = nodes.find((candidate) => candidate.name === name);
    if (!node) return c.html(<NotFoundPage page={context(c)} what={`No node ${name}.`} />, 404);
    const detail = { node, pods: pods.filter((pod) => pod.node === name), events };
    return c.html(<NodePage page={context(c)} detail={detail} path={c.req.path} />);
  });

  page.get("/revisions/:sha", pageSecurityHeaders, async (c) => {
    const sha = c.req.param("sha");
    const revision = shaParamSchema.safeParse(sha).success ? await findRevision(options.store, sha) : null;
    if (!revision) return c.html(<NotFoundPage page={context(c)} what={`No commit ${sha} has been seen.`} />, 404);
    const [history, sync] = await Promise.all([
      options.rollouts ? options.rollouts.history({ limit: 500 }).then((entries) => entries.find((entry) => entry.sha === revision.sha) ?? null) : Promise.resolve(null),
      options.store.getSyncState(),
    ]);
    return c.html(<RevisionPage page={context(c)} revision={revision} history={history} liveSha={sync?.liveSha ?? null} />);
  });

  page.post("/actions/rollback", pageSecurityHeaders, (c) => rollbackAction(c, actions));
  page.post("/actions/sync", pageSecurityHeaders, (c) => syncAction(c, actions));

  return page;
}

/** A full sha, or a prefix of one among the recent revisions. */
async function findRevision(store: DesiredStore, sha: string) {
  if (sha.length === 40) return store.getRevision(sha);
  const matches = (await store.listRevisions({ limit: 500 })).filter((revision) => revision.sha.startsWith(sha));
  return matches.length === 1 ? matches[0]! : null;
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
