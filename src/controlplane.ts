import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { UpConfig } from "./config.ts";
import { systemClock, type Clock } from "./clock.ts";
import { startLeaderComponents, type LeaderComponents, type LeaderTermContext } from "./controlplane-term.ts";
import { NotLeaderError } from "./errors.ts";
import type { Logger } from "./logging.ts";
import { channels, createPool, listen as listenForNotifications, migrate, notify, startEmbeddedPostgres } from "./db/index.ts";
import { PgDesiredStore, PgRolloutLog, ValidationPool } from "./desired/index.ts";
import { ensureExampleRepository, redactUrl } from "./gitsync/index.ts";
import { controlPlaneLease, leaderChannel, LeaderElector, LeaseFence, TermRunner } from "./leader/index.ts";
import type { GitSync } from "./gitsync/index.ts";
import type { NodeManager } from "./nodes/index.ts";
import type { ControllerManager } from "./reconcilers/index.ts";
import { createStatusApp, listen, LiveUpdates, Metrics, pgChangeFeed, type Leadership } from "./status/index.ts";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface ControlPlane {
  /** Where the page and API listen, e.g. http://127.0.0.1:8080. */
  url: string;
  databaseUrl: string;
  /** The leader's components; reading one on a follower throws NotLeaderError. */
  readonly sync: GitSync;
  readonly nodes: NodeManager;
  readonly controllers: ControllerManager;
  leadership(): Leadership;
  /** Stops everything it started, in reverse order; a leader releases its lease. Idempotent. */
  stop(): Promise<void>;
}

/**
 * `capstan up`: the store (embedded PostgreSQL unless DATABASE_URL is set),
 * migrations, the HTTP server, and the leader's components (Git sync, node
 * links, controllers with the scheduler and the garbage collector). Alone,
 * this process always leads; with `--replicas-share` it runs them only while
 * it holds the lease (src/leader/), behind the lease's fence.
 */
export async function startControlPlane(
  config: UpConfig,
  log: Logger,
  clock: Clock = systemClock,
  /** Another clock for the CronJob controller alone (src/cron-test-clock.ts); default `clock`. */
  cronJobClock?: Clock,
): Promise<ControlPlane> {
  const stack: Array<() => Promise<void>> = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      while (stack.length > 0) await stack.pop()!().catch((error: Error) => log.error({ err: error.message }, "shutdown step failed"));
    })());
  try {
    // First, so that its worker threads load while the store starts.
    const validationPool = new ValidationPool();
    stack.push(() => validationPool.close());
    await mkdir(config.dataDir, { recursive: true });
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const embedded = await startEmbeddedPostgres({ dataDir: join(config.dataDir, "pg"), log });
      stack.push(() => embedded.stop());
      databaseUrl = embedded.url;
      log.info({ dataDir: join(config.dataDir, "pg") }, "embedded PostgreSQL started");
    }
    const pool = createPool(databaseUrl);
    stack.push(() => pool.end());
    await migrate(pool);
    // Unguarded: the page and API only read, and a lone control plane needs no fence.
    const store = new PgDesiredStore(pool);
    const repo = config.repo ?? (await ensureExampleRepository(join(config.dataDir, "examples-repo"), join(packageRoot, "examples-repo")));
    const rollouts = new PgRolloutLog(pool);
    // Read at scrape time: whichever term leads then (none on a follower).
    const metrics = new Metrics({
      store,
      clock,
      log: log.child({ component: "metrics" }),
      leadership: () => leadership(),
      queues: () => current()?.controllers.stats() ?? [],
      links: () => current()?.nodes.links() ?? [],
    });
    const termContext: LeaderTermContext = { config, log, clock, cronJobClock, databaseUrl, validationPool, repo, packageRoot, rollouts, autoRevert: config.autoRevert, metrics };
    const replica = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;

    let current: () => LeaderComponents | undefined;
    let onPush: () => void;
    let leadership: () => Leadership;
    let startLeading: (url: string) => Promise<void>;
    if (!config.replicasShare) {
      const components = await startLeaderComponents(termContext, store);
      stack.push(() => components.stop());
      current = () => components;
      onPush = () => components.sync.trigger();
      let self: Leadership["leader"] = null;
      leadership = () => ({ mode: "single", replica, role: "leader", leader: self, fencedWrites: 0 });
      startLeading = async (url) => {
        self = { replica, url, token: null };
      };
    } else {
      const electionPool = createPool(databaseUrl, { max: 2, applicationName: "capstan-leader", statementTimeoutMs: config.leaseDurationSeconds * 1000 });
      stack.push(() => electionPool.end());
      let elector: LeaderElector | undefined;
      const terms = new TermRunner<LeaderComponents>(
        (token) => {
          const fence = new LeaseFence(controlPlaneLease, token, (error) => elector?.fenced(error));
          return startLeaderComponents({ ...termContext, log: log.child({ term: token }) }, new PgDesiredStore(pool, { writeGuard: fence }));
        },
        log.child({ component: "leader" }),
        (token) => elector?.abandon(token),
      );
      current = () => terms.current;
      // A load balancer hands the webhook to any replica: tell whichever leads.
      onPush = () =>
        void notify(pool, channels.syncTrigger, "").catch((error: Error) => log.warn({ err: error.message }, "could not pass the push on to the leader"));
      // Popped after the elector stopped: a term lost just before shutdown may still be stopping.
      stack.push(() => terms.idle());
      leadership = () => {
        const view = elector?.view();
        const leader = view?.leader;
        return {
          mode: "replicas",
          replica,
          role: view?.role ?? "follower",
          leader: leader ? { replica: leader.holder, url: leader.url, token: leader.token } : null,
          fencedWrites: view?.fencedWrites ?? 0,
        };
      };
      startLeading = async (url) => {
        const started = new LeaderElector({
          pool: electionPool,
          lease: controlPlaneLease,
          replica,
          url,
          timing: {
            leaseMs: config.leaseDurationSeconds * 1000,
            renewIntervalMs: config.leaseRenewIntervalSeconds * 1000,
            renewDeadlineMs: config.leaseRenewDeadlineSeconds * 1000,
          },
          log: log.child({ component: "leader", replica }),
          onStartedLeading: (token) => terms.begin(token),
          onStoppedLeading: (token) => terms.end(token),
        });
        elector = started;
        // A release or hand-over is announced: followers try at once instead of at their next attempt.
        const listener = await listenForNotifications(databaseUrl, [leaderChannel], () => started.wake(), { log, onReconnect: () => started.wake() });
        stack.push(() => listener.close());
        started.start();
        // Popped first on shutdown: the term's components stop, then the lease is released.
        stack.push(() => started.stop());
      };
    }

    // One LISTEN for every browser watching the page, however many there are.
    const live = await LiveUpdates.start({ feed: pgChangeFeed({ databaseUrl, store, log }), log });
    stack.push(() => live.close());
    const app = createStatusApp({
      live,
      clock,
      nodes: { logs: (params, onText, signal) => leaderComponents().nodes.logs(params, onText, signal) },
      store,
      log: log.child({ component: "status" }),
      rollouts,
      // Rollbacks push from the leader (a follower answers 503 naming it), like log streams.
      rollback: {
        diff: (from, to) => leaderComponents().rollback.diff(from, to),
        rollback: (request) => leaderComponents().rollback.rollback(request),
      },
      token: config.token,
      syncNow: () => onPush(),
      storeReachable: async () => (await pool.query("SELECT 1")).rowCount === 1,
      leadership: () => leadership(),
      metrics,
      webhook: config.webhookSecret
        ? { secret: config.webhookSecret, branch: config.branch, onPush: () => onPush() }
        : undefined,
    });
    const server = await listen(app, config.host, config.port);
    // Open event streams end first (popped before the server closes), or the server's close would wait on them.
    stack.push(async () => {
      await live.close();
      await server.close();
    });
    // With --host 0.0.0.0 the listening address means nothing to another host.
    await startLeading(config.advertiseUrl ?? server.url);
    log.info({ url: server.url, repo: redactUrl(repo), branch: config.branch, replica, replicasShare: Boolean(config.replicasShare) }, "capstan is up");

    function leaderComponents(): LeaderComponents {
      const components = current();
      if (!components) throw new NotLeaderError(leadership().leader?.url ?? null);
      return components;
    }
    return {
      url: server.url,
      databaseUrl,
      get sync() {
        return leaderComponents().sync;
      },
      get nodes() {
        return leaderComponents().nodes;
      },
      get controllers() {
        return leaderComponents().controllers;
      },
      leadership: () => leadership(),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
