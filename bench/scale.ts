/**
 * The whole control plane at scale: a commit of 10,000 manifests (1,000
 * Nodes, 1,000 Deployments whose replicas add up to 30,000 pods, ConfigMaps
 * for the rest) on real PostgreSQL, with the 1,000 nodes faked behind the
 * NodeClient interface (FakeNodeClient, held to the agent's contract by
 * test/nodes/client/node-client.suite.ts). Measured, each beside its goal:
 *
 * - Git sync of the 10k-object commit (full), then a one-file commit
 *   (incremental, median of 5), the sync alone as bench/sync.ts runs it.
 * - Scheduling: the 30,000 pods are first created by the real controllers
 *   without the scheduler, then the real scheduler reconciler (podReconciler
 *   in a ControllerManager, store writes and events included) binds them all
 *   from Pending; pods bound per second of wall time.
 * - Then `capstan up`'s leader components (startLeaderComponents: Git sync,
 *   node links, controllers, garbage collector, the listener) with fake
 *   nodes that run every pod they are given, and the status server with the
 *   live feed as controlplane.ts wires them; once every Deployment is
 *   available: one full reconcile pass (`controllers.resync()` until the
 *   queues are idle), GET `/` and `/api/status` 50 times each, and this
 *   process's RSS (control plane and the in-memory fake nodes; PostgreSQL is
 *   a separate process).
 *
 * Sizes: SCALE_OBJECTS, SCALE_NODES, SCALE_DEPLOYMENTS, SCALE_PODS.
 * Uses DATABASE_URL when set, otherwise an embedded PostgreSQL in a temp dir.
 * Prints one JSON line.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { systemClock } from "../src/clock.ts";
import { loadUpConfig } from "../src/config.ts";
import { startLeaderComponents, type LeaderComponents } from "../src/controlplane-term.ts";
import { channels, createPool, listen as listenForNotifications, type Listener } from "../src/db/index.ts";
import { PgDesiredStore, PgRolloutLog, ValidationPool } from "../src/desired/index.ts";
import { GitSync, openGitSource } from "../src/gitsync/index.ts";
import { createLogger } from "../src/logging.ts";
import { FakeNodeClient } from "../src/nodes/index.ts";
import { ControllerManager, podReconciler, standardReconcilers, type Reconciler } from "../src/reconcilers/index.ts";
import { createStatusApp, listen, LiveUpdates, pgChangeFeed } from "../src/status/index.ts";
import { counters, idleQueues, sleep, untilIdle } from "./lib/controllers.ts";
import { benchDatabase, type BenchDatabase } from "./lib/database.ts";
import { commitFile, generateRepository } from "./lib/git.ts";
import { timeGets } from "./lib/http-timing.ts";
import { passProfiler } from "./lib/pass-profiler.ts";
import { configMapManifest, configMapPath, scaleManifests, type ScaleShape } from "./lib/scale-manifests.ts";

const shape: ScaleShape = {
  objects: Number(process.env.SCALE_OBJECTS ?? 10_000),
  nodes: Number(process.env.SCALE_NODES ?? 1_000),
  deployments: Number(process.env.SCALE_DEPLOYMENTS ?? 1_000),
  pods: Number(process.env.SCALE_PODS ?? 30_000),
};
const phaseTimeoutMs = Number(process.env.SCALE_PHASE_TIMEOUT_MS ?? 300_000);
const pageRequests = 50;
const nodeCapacity = { cpuMillis: 16_000, memoryBytes: 64 * 2 ** 30 };
const goals = { fullSyncMs: 3_000, incrementalSyncMs: 100, podsPerSecond: 2_000, reconcilePassMs: 2_000, pageMs: 50, rssMiB: 500 };

const log = (message: string): void => void process.stderr.write(`[scale] ${new Date().toISOString().slice(11, 19)} ${message}\n`);
// Errors only: a warning per pod would drown the figures; an error means the run is suspect, and shows.
const componentLog = createLogger({ level: "error", destination: process.stderr });

interface Figure {
  value: number;
  goal: number;
  met: boolean;
}
/** Each figure as soon as it is measured: a run that fails later still reports what it got to. */
const figures: Record<string, Figure> = {};
function record(name: string, value: number, goal: number, atLeast = false): void {
  figures[name] = { value, goal, met: atLeast ? value >= goal : value <= goal };
}
function partialLine(reason: string): string {
  return `${JSON.stringify({ bench: "scale", ...shape, figures, met: false, failed: reason })}\n`;
}
// `npm run bench` or a person stopping a long run: what was measured so far is still printed.
process.once("SIGTERM", () => {
  process.stdout.write(partialLine("stopped by SIGTERM"));
  void cleanUp().finally(() => process.exit(1));
});

const validationPool = new ValidationPool();
let database: BenchDatabase | undefined;
let benchPool: BenchDatabase["pool"] | undefined;
const stack: (() => Promise<unknown>)[] = [];
try {
  database = await benchDatabase("scale");
  // The control plane's pool (10 connections, as `capstan up` makes it) is database.pool; the bench's own
  // counting queries go through another, so that they neither wait behind the control plane nor add to its queue.
  const db = createPool(database.url, { max: 2, applicationName: "bench" });
  benchPool = db;
  stack.push(() => db.end());
  const store = new PgDesiredStore(database.pool);
  const repo = join(database.work, "repo");
  const dataDir = join(database.work, "data");
  let started = performance.now();
  await generateRepository(repo, scaleManifests(shape));
  log(`repository of ${shape.objects} manifests generated in ${Math.round(performance.now() - started)} ms`);

  // ------------------------------------------------------------ Git sync: full, then one file
  const sync = new GitSync({
    validationPool,
    source: openGitSource({ url: repo, branch: "main", path: "", cacheDir: join(dataDir, "git") }),
    store,
    clock: systemClock,
    log: componentLog,
    describe: { url: repo, branch: "main", path: "" },
    pollIntervalMs: 3_600_000,
  });
  started = performance.now();
  const full = await sync.syncOnce();
  const fullSyncMs = Math.round(performance.now() - started);
  if (full.result !== "applied" || full.created !== shape.objects) throw new Error(`full sync: ${JSON.stringify(full).slice(0, 500)}`);
  const incremental: number[] = [];
  for (let round = 1; round <= 5; round++) {
    await commitFile(repo, configMapPath(3), configMapManifest(3, `round-${round}`), `change one file (${round})`);
    started = performance.now();
    const result = await sync.syncOnce();
    incremental.push(performance.now() - started);
    if (result.result !== "applied" || result.updated !== 1) throw new Error(`incremental sync: ${JSON.stringify(result)}`);
  }
  const incrementalSyncMs = round1(median(incremental));
  record("fullSyncMs", fullSyncMs, goals.fullSyncMs);
  record("incrementalSyncMs", incrementalSyncMs, goals.incrementalSyncMs);
  log(`sync: full ${fullSyncMs} ms, incremental ${incrementalSyncMs} ms (median of 5)`);

  // ------------------------------------------------------------ the pods, created without a scheduler
  // The nodes Ready, as the node link writes them (the fake nodes write the same once they link up).
  const now = new Date().toISOString();
  await store.updateStatuses(
    Array.from({ length: shape.nodes }, (_, index) => ({
      key: { kind: "Node", namespace: "", name: `node-${index}` },
      status: {
        conditions: [{ type: "Ready", status: "True", reason: "AgentReady", message: "bench", lastTransitionTime: now, lastHeartbeatTime: now }],
        addresses: [{ type: "InternalIP", address: "127.0.0.1" }],
        capacity: nodeCapacity,
        nodeInfo: { agentVersion: "bench", protocolVersion: 1, hostname: `node-${index}`, bootId: "bench", runtimes: ["process"] },
        hostKey: null,
        reconnects: 0,
      },
    })),
  );
  started = performance.now();
  await runControllers(
    database,
    standardReconcilers().filter((reconciler) => reconciler.name !== "scheduler"),
    async () => (await count(db, "kind = 'Pod'")) === shape.pods,
    "pods created",
  );
  const podsCreatedMs = Math.round(performance.now() - started);

  // ------------------------------------------------------------ scheduling: every pod bound from Pending
  started = performance.now();
  const cpuBefore = process.cpuUsage();
  await runControllers(database, [podReconciler()], async () => (await count(db, "kind = 'Pod' AND coalesce(spec->>'nodeName', '') <> ''")) === shape.pods, "pods bound");
  const scheduleSeconds = (performance.now() - started) / 1000;
  const scheduleCpu = process.cpuUsage(cpuBefore);
  const podsPerSecond = Math.round(shape.pods / scheduleSeconds);
  record("podsScheduledPerSecond", podsPerSecond, goals.podsPerSecond, true);
  log(`scheduled ${shape.pods} pods in ${scheduleSeconds.toFixed(1)} s: ${podsPerSecond} pods/s`);

  // ------------------------------------------------------------ capstan up's leader, fake nodes, the page
  const profile = passProfiler();
  const config = loadUpConfig({ repo, dataDir, port: "0", pollIntervalSeconds: "3600" }, { DATABASE_URL: database.url });
  started = performance.now();
  const leader: LeaderComponents = await startLeaderComponents(
    {
      config,
      log: componentLog,
      clock: systemClock,
      databaseUrl: database.url,
      validationPool,
      repo,
      packageRoot: fileURLToPath(new URL("..", import.meta.url)),
      rollouts: new PgRolloutLog(database.pool),
      autoRevert: false,
      pool: database.pool,
      clientFor: (node) => new FakeNodeClient({ clock: systemClock, node: node.name, capacity: nodeCapacity }),
    },
    profile.store(store),
  );
  stack.push(() => leader.stop());
  const live = await LiveUpdates.start({ feed: pgChangeFeed({ databaseUrl: database.url, store, log: componentLog }), log: componentLog });
  stack.push(() => live.close());
  const app = createStatusApp({
    live,
    clock: systemClock,
    store,
    log: componentLog,
    rollouts: new PgRolloutLog(database.pool),
    storeReachable: async () => (await database!.pool.query("SELECT 1")).rowCount === 1,
    syncNow: () => leader.sync.trigger(),
  });
  const server = await listen(app, "127.0.0.1", 0);
  stack.push(() => server.close());
  await until(
    async () =>
      idleQueues(leader.controllers) &&
      (await count(db, "kind = 'Pod' AND status->>'phase' = 'Running'")) === shape.pods &&
      (await count(db, "kind = 'Deployment' AND (status->>'availableReplicas')::int = (spec->>'replicas')::int AND observed_generation = generation")) ===
        shape.deployments,
    "every deployment available",
    leader.controllers,
  );
  const convergedMs = Math.round(performance.now() - started);
  // Quiet apart from heartbeats: 1,000 nodes keep rewriting their Node rows, as they would.
  await quietBesidesNodes(db, leader.controllers);

  // ------------------------------------------------------------ one full reconcile pass
  const before = await counters(db);
  const podWritesBefore = await lastNonNodeWrite(db);
  profile.reset(true);
  started = performance.now();
  const passCpuBefore = process.cpuUsage();
  await leader.controllers.resync();
  await untilIdle(leader.controllers, profile);
  const reconcilePassMs = Math.round(performance.now() - started);
  const passCpu = process.cpuUsage(passCpuBefore);
  record("reconcilePassMs", reconcilePassMs, goals.reconcilePassMs);
  profile.reset(false);
  const after = await counters(db);
  const nonNodeWrites = (await lastNonNodeWrite(db)) !== podWritesBefore;
  log(`full pass: ${reconcilePassMs} ms, ${round1((passCpu.user + passCpu.system) / 1000)} ms CPU; store calls ${JSON.stringify(profile.snapshot().storeCalls)}`);

  // ------------------------------------------------------------ the page and its JSON twin
  const page = await timeGets(`${server.url}/`, pageRequests);
  const apiStatus = await timeGets(`${server.url}/api/status`, pageRequests);
  log(`/ ${JSON.stringify(page)}; /api/status ${JSON.stringify(apiStatus)}`);
  global.gc?.();
  const rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  const objects = await count(db, "true");

  record("pageP50Ms", page.p50Ms, goals.pageMs);
  record("pageP99Ms", page.p99Ms, goals.pageMs);
  record("apiStatusP50Ms", apiStatus.p50Ms, goals.pageMs);
  record("apiStatusP99Ms", apiStatus.p99Ms, goals.pageMs);
  record("rssMiB", rssMiB, goals.rssMiB);
  process.stdout.write(
    `${JSON.stringify({
      bench: "scale",
      ...shape,
      objectsInStore: objects,
      figures,
      met: Object.values(figures).every((entry) => entry.met),
      // Commit → converged (p50 ≤ 1 s, p99 ≤ 2 s) is bench/converge.ts's, on real agents over SSH.
      details: {
        incrementalSyncRunsMs: incremental.map(round1),
        podsCreatedMs,
        scheduleSeconds: round1(scheduleSeconds),
        scheduleCpuSeconds: round1((scheduleCpu.user + scheduleCpu.system) / 1e6),
        leaderUpUntilConvergedMs: convergedMs,
        // This process's CPU during the pass (PostgreSQL's not included): less at the mercy of a shared machine than the wall time.
        passCpuMs: Math.round((passCpu.user + passCpu.system) / 1000),
        passObjectWrites: after.version - before.version,
        passNonNodeWrites: nonNodeWrites,
        passEvents: after.events - before.events,
        passStoreCalls: profile.snapshot().storeCalls,
        page,
        apiStatus,
      },
    })}\n`,
  );
} catch (error) {
  process.stdout.write(partialLine(error instanceof Error ? error.message : String(error)));
  throw error;
} finally {
  await cleanUp();
}

async function cleanUp(): Promise<void> {
  while (stack.length > 0) await stack.pop()!().catch((error: Error) => log(`shutdown step failed: ${error.message}`));
  await validationPool.close();
  await database?.close();
}

// ---------------------------------------------------------------- helpers

/** A ControllerManager of `reconcilers`, fed by LISTEN as `capstan up` feeds its own, until `done`; then stopped. */
async function runControllers(database: BenchDatabase, reconcilers: Reconciler[], done: () => Promise<boolean>, what: string): Promise<void> {
  const manager = new ControllerManager({ store: new PgDesiredStore(database.pool), clock: systemClock, log: componentLog, reconcilers, resyncIntervalMs: 0 });
  let listener: Listener | undefined;
  try {
    listener = await listenForNotifications(database.url, [channels.objects], (_channel, payload) => manager.notifyRaw(payload));
    await manager.start();
    await until(async () => idleQueues(manager) && (await done()), what, manager);
  } finally {
    await manager.stop();
    await listener?.close();
  }
}

async function until(check: () => Promise<boolean>, what: string, manager: ControllerManager): Promise<void> {
  const started = performance.now();
  let reported = started;
  while (!(await check())) {
    const failed = await benchPool!.query<{ message: string }>("SELECT message FROM events WHERE reason = 'FailedScheduling' LIMIT 1");
    if (failed.rows[0]) throw new Error(`${what}: a pod could not be scheduled: ${failed.rows[0].message}`);
    if (performance.now() - started > phaseTimeoutMs) throw new Error(`${what}: not reached after ${phaseTimeoutMs} ms`);
    if (performance.now() - reported > 10_000) {
      reported = performance.now();
      const queues = manager.stats().filter((stat) => stat.queued + stat.processing + stat.waiting > 0);
      log(`waiting for ${what}: ${Math.round((reported - started) / 1000)} s, queues ${queues.map((s) => `${s.reconciler}:${s.queued}/${s.processing}/${s.waiting}`).join(" ")}`);
      if (process.env.SCALE_DEBUG) {
        const { rows } = await benchPool!.query<{ state: string; wait: string | null; seconds: number; query: string }>(
          `SELECT state, wait_event_type || ':' || wait_event AS wait, extract(epoch FROM now() - query_start)::float AS seconds, left(query, 120) AS query
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle' ORDER BY query_start`,
        );
        for (const row of rows) log(`  ${row.state} ${row.wait ?? ""} ${row.seconds.toFixed(1)} s: ${row.query.replace(/\s+/g, " ")}`);
      }
    }
    await sleep(250);
  }
  log(`${what} after ${Math.round(performance.now() - started)} ms`);
}

async function count(db: BenchDatabase["pool"], where: string): Promise<number> {
  return Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM objects WHERE deleted_at IS NULL AND (${where})`)).rows[0]!.n);
}

async function lastNonNodeWrite(db: BenchDatabase["pool"]): Promise<string> {
  return (await db.query<{ v: string | null }>("SELECT max(resource_version)::text AS v FROM objects WHERE kind <> 'Node'")).rows[0]!.v ?? "";
}

/** Until a second passes with nothing queued and no write but the nodes' heartbeats. */
async function quietBesidesNodes(db: BenchDatabase["pool"], manager: ControllerManager): Promise<void> {
  let last = await lastNonNodeWrite(db);
  for (;;) {
    await sleep(1_000);
    const now = await lastNonNodeWrite(db);
    if (idleQueues(manager) && now === last) return;
    last = now;
  }
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
