import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { UpConfig } from "./config.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Logger } from "./logging.ts";
import { channels, createPool, listen as listenForNotifications, migrate, startEmbeddedPostgres } from "./db/index.ts";
import { PgDesiredStore, PgRolloutLog, ValidationPool } from "./desired/index.ts";
import { ensureExampleRepository, GitSync, openGitSource, redactUrl, RollbackService } from "./gitsync/index.ts";
import { NodeManager, transportFactory } from "./nodes/index.ts";
import { ControllerManager, GarbageCollector, parseObjectChange, podMetricsFrom, standardReconcilers, type ObjectChange } from "./reconcilers/index.ts";
import { createStatusApp, listen } from "./status/index.ts";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface ControlPlane {
  /** Where the page and API listen, e.g. http://127.0.0.1:8080. */
  url: string;
  databaseUrl: string;
  sync: GitSync;
  nodes: NodeManager;
  controllers: ControllerManager;
  /** Stops everything it started, in reverse order. Idempotent. */
  stop(): Promise<void>;
}

/**
 * `capstan up`: the store (embedded PostgreSQL unless DATABASE_URL is set),
 * migrations, the Git sync loop, the node links, the controllers (with the
 * scheduler and the garbage collector) and the HTTP server.
 */
export async function startControlPlane(config: UpConfig, log: Logger, clock: Clock = systemClock): Promise<ControlPlane> {
  const stack: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    while (stack.length > 0) await stack.pop()!().catch((error: Error) => log.error({ err: error.message }, "shutdown step failed"));
  };
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
    const store = new PgDesiredStore(pool);

    const repo = config.repo ?? (await ensureExampleRepository(join(config.dataDir, "examples-repo"), join(packageRoot, "examples-repo")));
    const source = openGitSource({
      url: repo,
      branch: config.branch,
      path: config.path,
      cacheDir: join(config.dataDir, "git"),
      auth: { username: config.gitUsername, password: config.gitPassword, token: config.gitToken },
    });
    const rollouts = new PgRolloutLog(pool);
    const sync = new GitSync({
      rollouts,
      validationPool,
      source,
      store,
      clock,
      log: log.child({ component: "gitsync" }),
      describe: { url: redactUrl(repo), branch: config.branch, path: config.path },
      pollIntervalMs: config.pollIntervalSeconds * 1000,
    });
    sync.start();
    stack.push(() => sync.stop());
    const rollback = new RollbackService({ source, store, rollouts, clock, log: log.child({ component: "rollback" }), onPublished: () => sync.trigger() });

    // One link per Node in the store; the local node's agent is this package's own capstan-agent.
    const nodes: NodeManager = new NodeManager({
      store,
      clock,
      log: log.child({ component: "nodes" }),
      transportFor: transportFactory({
        local: { stateDir: join(config.dataDir, "agent"), agentCommand: `${process.execPath} ${join(packageRoot, "bin", "capstan-agent.js")}` },
        sshKeyPath: config.sshKey,
        log: log.child({ component: "nodes" }),
      }),
      // A relative workingDir on the local node resolves against the repository when it is a local checkout.
      workingDirBaseFor: (node) => (node.spec.transport === "local" && !/^https?:\/\//.test(repo) ? join(repo, config.path) : undefined),
    });
    const controllers = new ControllerManager({
      store,
      clock,
      log: log.child({ component: "controllers" }),
      reconcilers: standardReconcilers({
        schedulerStrategy: config.schedulerStrategy,
        evictionGraceMs: config.evictionGraceSeconds * 1000,
        podMetrics: podMetricsFrom(nodes),
        rollouts: {
          rollouts,
          autoRevertAll: config.autoRevert,
          autoRevert: ({ rollout, workload, reason }) => rollback.autoRevert({ rolloutId: rollout.id, revisionSha: rollout.revisionSha, workload, reason }),
        },
      }),
      resyncIntervalMs: config.resyncIntervalSeconds * 1000,
    });
    const garbageCollector = new GarbageCollector({ store, clock, log: log.child({ component: "gc" }) });
    const objectListener = await listenForNotifications(
      databaseUrl,
      [channels.objects],
      (_channel, payload) => {
        // Parsed once for all three listeners; a malformed payload (logged) still refreshes the node links, to be safe.
        const change = parseObjectChange(payload, log);
        if (change) controllers.notify(change);
        if (!change || wakesNodeManager(change)) void nodes.refresh().catch((error: Error) => log.warn({ err: error.message }, "node refresh failed"));
        if (change?.deleted) garbageCollector.kick();
      },
      {
        log,
        // Notifications sent while the connection was down are lost: relist everything.
        onReconnect: async () => {
          await Promise.all([nodes.refresh(), controllers.resync()]);
          garbageCollector.kick();
        },
      },
    );
    stack.push(() => objectListener.close());
    // After LISTEN is in place, so that no change between the first read and the listener is missed.
    await nodes.start();
    stack.push(() => nodes.stop());
    await controllers.start();
    stack.push(() => controllers.stop());
    garbageCollector.start();
    stack.push(() => garbageCollector.stop());

    const app = createStatusApp({
      nodes,
      store,
      log: log.child({ component: "status" }),
      rollouts,
      rollback,
      apiToken: config.apiToken,
      storeReachable: async () => (await pool.query("SELECT 1")).rowCount === 1,
      webhook: config.webhookSecret
        ? { secret: config.webhookSecret, branch: config.branch, onPush: () => sync.trigger() }
        : undefined,
    });
    const server = await listen(app, config.host, config.port);
    stack.push(() => server.close());
    log.info({ url: server.url, repo: redactUrl(repo), branch: config.branch }, "capstan is up");
    return { url: server.url, databaseUrl, sync, nodes, controllers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Spec changes of the kinds a node's pod set is made of; status-only writes (the agents' own reports) do not count. */
function wakesNodeManager(change: ObjectChange): boolean {
  return !change.statusOnly && ["Node", "Pod", "ConfigMap", "Secret"].includes(change.kind);
}
