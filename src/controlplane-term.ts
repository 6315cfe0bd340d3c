import { join } from "node:path";
import type pg from "pg";
import type { UpConfig } from "./config.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./logging.ts";
import { channels, listen as listenForNotifications, type WriteGuard } from "./db/index.ts";
import type { DesiredStore, RolloutLog, ValidationPool } from "./desired/index.ts";
import { GitSync, openGitSource, redactUrl, RollbackService } from "./gitsync/index.ts";
import { NodeManager, transportFactory, type NodeManagerOptions } from "./nodes/index.ts";
import { startNotifications, type Notifications } from "./notifications/index.ts";
import { ControllerManager, GarbageCollector, parseObjectChange, podMetricsFrom, standardReconcilers, type ObjectChange } from "./reconcilers/index.ts";
import type { Metrics } from "./status/index.ts";

export interface LeaderTermContext {
  config: UpConfig;
  log: Logger;
  clock: Clock;
  /** The CronJob controller's clock when it is not `clock` (the test hook of src/cron-test-clock.ts). */
  cronJobClock?: Clock;
  databaseUrl: string;
  validationPool: ValidationPool;
  /** The manifests repository (a path or URL). */
  repo: string;
  packageRoot: string;
  /** Rollout records: started by the sync, ended by the rollout trackers, read by the page. */
  rollouts: RolloutLog;
  autoRevert: boolean;
  /** The process's metrics (one registry for every term): the components report into it. */
  metrics?: Metrics;
  /** The pool and (with replicas) the term's fence, for the notifications outbox. */
  pool: pg.Pool;
  writeGuard?: WriteGuard;
  /** The node links' clients, when they are not agents (bench/scale.ts's fake nodes); default AgentNodeClient. */
  clientFor?: NodeManagerOptions["clientFor"];
}

/** What only the leader runs. A follower has none of it; each term gets fresh ones. */
export interface LeaderComponents {
  sync: GitSync;
  nodes: NodeManager;
  controllers: ControllerManager;
  /** Rollbacks and auto-reverts: commits pushed to the watched branch, then synced like any other. */
  rollback: RollbackService;
  /** Webhook deliveries (kind: Notifier) from the outbox. */
  notifications: Notifications;
  /** Stops everything it started, in reverse order: node links first, so SSH connections close. */
  stop(): Promise<void>;
}

/**
 * Starts the Git sync loop, the node links, the controllers (with the
 * scheduler and the garbage collector) and their store listener, all writing
 * through `store` (which carries the term's fence when several replicas share
 * the database).
 */
export async function startLeaderComponents(context: LeaderTermContext, store: DesiredStore): Promise<LeaderComponents> {
  const { config, log, clock, repo } = context;
  const stack: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    while (stack.length > 0) await stack.pop()!().catch((error: Error) => log.error({ err: error.message }, "shutdown step failed"));
  };
  try {
    const source = openGitSource({
      url: repo,
      branch: config.branch,
      path: config.path,
      cacheDir: join(config.dataDir, "git"),
      auth: { username: config.gitUsername, password: config.gitPassword, token: config.gitToken },
    });
    const { rollouts } = context;
    const sync = new GitSync({
      rollouts,
      validationPool: context.validationPool,
      source,
      store,
      clock,
      log: log.child({ component: "gitsync" }),
      describe: { url: redactUrl(repo), branch: config.branch, path: config.path },
      pollIntervalMs: config.pollIntervalSeconds * 1000,
      observer: context.metrics,
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
        local: {
          stateDir: join(config.dataDir, "agent"),
          agentCommand: `${process.execPath} ${join(context.packageRoot, "bin", "capstan-agent.js")}`,
        },
        sshKeyPath: config.sshKey,
        log: log.child({ component: "nodes" }),
      }),
      observer: context.metrics,
      clientFor: context.clientFor,
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
          autoRevertAll: context.autoRevert,
          autoRevert: ({ rollout, workload, reason }) => rollback.autoRevert({ rolloutId: rollout.id, revisionSha: rollout.revisionSha, workload, reason }),
        },
        cronJobClock: context.cronJobClock,
      }),
      resyncIntervalMs: config.resyncIntervalSeconds * 1000,
      observer: context.metrics,
      cronJobRuns: context.metrics,
    });
    const garbageCollector = new GarbageCollector({ store, clock, log: log.child({ component: "gc" }) });
    const objectListener = await listenForNotifications(
      context.databaseUrl,
      [channels.objects, channels.syncTrigger],
      (channel, payload) => {
        if (channel === channels.syncTrigger) return sync.trigger();
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
    // Last in, first out: no post is in flight while the rest stops. It only reads what the others recorded.
    const notifications = await startNotifications({
      pool: context.pool,
      databaseUrl: context.databaseUrl,
      writeGuard: context.writeGuard,
      store,
      clock,
      log: log.child({ component: "notifications" }),
    });
    stack.push(() => notifications.stop());
    return { sync, nodes, controllers, rollback, notifications, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Spec changes of the kinds a node's pod set is made of; status-only writes (the agents' own reports) do not count. */
function wakesNodeManager(change: ObjectChange): boolean {
  // A deleted PersistentVolumeClaim may leave a directory for a node's agent to remove.
  return !change.statusOnly && ["Node", "Pod", "ConfigMap", "Secret", "Service", "EndpointSlice", "PersistentVolumeClaim"].includes(change.kind);
}
