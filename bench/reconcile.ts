/**
 * A full reconcile pass over a converged cluster of ~10,000 objects with
 * nothing to do, and the control plane's memory at that size. Goals: one full
 * pass ≤ 2 s, RSS ≤ 500 MB.
 *
 * The cluster is built the way `capstan up` builds it: Namespaces, Nodes and
 * Deployments applied as one revision from validated manifests
 * (validateFiles, exactly as the sync normalises them); Node statuses written
 * as the node link writes them; the real controllers (ControllerManager with
 * standardReconcilers, fed over LISTEN/NOTIFY) create the ReplicaSets and
 * Pods and bind them, while a fake kubelet in this process marks every bound
 * pod Running and ready in batches, as NodeManager's status flush does. Once
 * every Deployment shows all replicas available and the queues are idle, one
 * full pass is measured: `controllers.resync()` until nothing is queued or
 * processing, the object writes it made (resource_version_seq) and the events
 * it recorded, with, for where the time goes, every reconcile and store call
 * of the pass timed (by wrapping the reconcilers and the store in this file).
 * Then what 10 Node heartbeat writes cost at this size (NodeManager writes
 * one per node every 20 s), since each wakes reconcilers that read every pod.
 *
 * 8,000 pods need at least 73 nodes at Kubernetes' 110 pods per node (the
 * scheduler's default), so the cluster has 100 Nodes.
 *
 * RSS is this process: the controllers, their pool and the listener (the fake
 * kubelet is idle by then); PostgreSQL is a separate process and not counted.
 *
 * Uses DATABASE_URL when set, otherwise an embedded PostgreSQL in a temp dir.
 * Prints one JSON line.
 */
import { systemClock } from "../src/clock.ts";
import { channels, listen, type Listener } from "../src/db/index.ts";
import { PgDesiredStore, validateFiles, type StatusUpdate } from "../src/desired/index.ts";
import { silentLogger } from "../src/logging.ts";
import { storedPodStatus } from "../src/nodes/index.ts";
import { ControllerManager, standardReconcilers } from "../src/reconcilers/index.ts";
import { counters, sleep, untilIdle, waitQuiet } from "./lib/controllers.ts";
import { benchDatabase, type BenchDatabase } from "./lib/database.ts";
import { passProfiler, type PassProfile } from "./lib/pass-profiler.ts";
import { deploymentManifest, nodeManifest } from "./lib/scale-manifests.ts";

const nodeCount = Number(process.env.BENCH_NODES ?? 100);
const deploymentCount = Number(process.env.BENCH_DEPLOYMENTS ?? 1_000);
const replicas = Number(process.env.BENCH_REPLICAS ?? 8);
const convergeTimeoutMs = Number(process.env.BENCH_CONVERGE_TIMEOUT_MS ?? 300_000);
const namespaces = ["alpha", "beta", "gamma", "delta"];
const GiB = 2 ** 30;
const goalFullPassMs = 2_000;
const goalRssMiB = 500;

const log = (message: string): void => void process.stderr.write(`[reconcile] ${message}\n`);

let database: BenchDatabase | undefined;
let listener: Listener | undefined;
let controllers: ControllerManager | undefined;
let kubelet: { stop(): Promise<void> } | undefined;
try {
  database = await benchDatabase("reconcile");
  const databaseUrl = database.url;
  const db = database.pool;
  const store = new PgDesiredStore(db);

  // ------------------------------------------------------------ desired state: one revision
  const files = [
    { path: "namespaces.yaml", content: namespaces.map((name) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`).join("---\n") },
    ...Array.from({ length: nodeCount }, (_, index) => ({ path: `nodes/node-${index}.yaml`, content: nodeManifest(index) })),
    ...Array.from({ length: deploymentCount }, (_, index) => ({
      path: `apps/${namespaces[index % namespaces.length]}/app-${index}.yaml`,
      content: deploymentManifest(namespaces[index % namespaces.length]!, `app-${index}`, replicas),
    })),
  ];
  const validated = validateFiles(files);
  const errors = validated.problems.filter((problem) => problem.severity === "error");
  if (errors.length > 0) throw new Error(`manifests rejected: ${JSON.stringify(errors.slice(0, 3))}`);
  await store.applyRevision(
    { sha: "b".repeat(40), parentSha: null, authorName: "bench", authorEmail: "bench@localhost", message: "bench cluster", committedAt: new Date() },
    validated.objects,
    validated.problems,
  );

  // ------------------------------------------------------------ nodes Ready, as the node link writes them
  const now = new Date().toISOString();
  await store.updateStatuses(
    Array.from({ length: nodeCount }, (_, index) => ({
      key: { kind: "Node", namespace: "", name: `node-${index}` },
      status: {
        conditions: [{ type: "Ready", status: "True", reason: "AgentReady", message: "bench", lastTransitionTime: now, lastHeartbeatTime: now }],
        addresses: [{ type: "InternalIP", address: "127.0.0.1" }],
        capacity: { cpuMillis: 64_000, memoryBytes: 256 * GiB },
        nodeInfo: { agentVersion: "bench", protocolVersion: 1, hostname: `node-${index}`, bootId: "bench", runtimes: ["process"] },
        hostKey: null,
        reconnects: 0,
      },
    })),
  );

  // ------------------------------------------------------------ the real controllers, woken by NOTIFY
  // `capstan up`'s controllers (standardReconcilers, default concurrency), each reconciler and the
  // store they use wrapped so that the measured pass can say where its time goes (off until then).
  const profile = passProfiler();
  const manager = new ControllerManager({
    store: profile.store(store),
    clock: systemClock,
    log: silentLogger,
    reconcilers: standardReconcilers().map((reconciler) => profile.reconciler(reconciler)),
    resyncIntervalMs: 0,
  });
  controllers = manager;
  let notifications = 0;
  listener = await listen(databaseUrl, [channels.objects], (_channel, payload) => {
    notifications++;
    manager.notifyRaw(payload);
  });
  kubelet = startKubelet(db, store);
  const buildStarted = performance.now();
  await manager.start();

  const deadline = Date.now() + convergeTimeoutMs;
  let lastReport = 0;
  for (;;) {
    const { rows } = await db.query<{ available: string; pods: string; running: string }>(
      `SELECT
         (SELECT count(*) FROM objects WHERE kind = 'Deployment' AND deleted_at IS NULL
            AND (status->>'availableReplicas')::int = $1 AND (status->>'updatedReplicas')::int = $1
            AND observed_generation = generation) AS available,
         (SELECT count(*) FROM objects WHERE kind = 'Pod' AND deleted_at IS NULL) AS pods,
         (SELECT count(*) FROM objects WHERE kind = 'Pod' AND deleted_at IS NULL AND status->>'phase' = 'Running') AS running`,
      [replicas],
    );
    const { available, pods, running } = rows[0]!;
    const idle = manager.stats().every((stat) => stat.queued === 0 && stat.processing === 0);
    if (Number(available) === deploymentCount && idle) break;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      const queued = manager.stats().map((stat) => `${stat.kind}:${stat.queued}/${stat.processing}/${stat.waiting}`).join(" ");
      log(`building: ${Math.round((performance.now() - buildStarted) / 1000)} s, pods ${pods}, running ${running}, deployments available ${available}/${deploymentCount}, queues ${queued}`);
    }
    if (Date.now() > deadline) throw new Error(`not converged after ${convergeTimeoutMs} ms: ${available}/${deploymentCount} deployments available, ${pods} pods`);
    await sleep(500);
  }
  const buildMs = performance.now() - buildStarted;
  log(`converged in ${Math.round(buildMs)} ms (${notifications} notifications)`);
  await kubelet.stop();
  kubelet = undefined;

  // Quiet: no write for a second, nothing queued (a deployment's last status write wakes nobody with work).
  await waitQuiet(db, manager);
  const objects = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM objects WHERE deleted_at IS NULL")).rows[0]!.n);
  const podCount = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM objects WHERE kind = 'Pod' AND deleted_at IS NULL")).rows[0]!.n);

  // ------------------------------------------------------------ the measured passes
  // One pass always; more while they are quick (the budget is ~3 minutes for the whole bench).
  const passes: { ms: number; writes: number; events: number; profile: PassProfile }[] = [];
  let spent = 0;
  for (let round = 0; round < 3 && (round === 0 || spent < 15_000); round++) {
    const before = await counters(db);
    profile.reset(true);
    const started = performance.now();
    await manager.resync();
    await untilIdle(manager, profile);
    const ms = performance.now() - started;
    profile.reset(false);
    const after = await counters(db);
    spent += ms;
    passes.push({ ms: Math.round(ms), writes: after.version - before.version, events: after.events - before.events, profile: profile.snapshot() });
    log(`full pass ${round + 1}: ${Math.round(ms)} ms, ${after.version - before.version} object writes, ${after.events - before.events} events`);
    log(`  reconciles: ${JSON.stringify(passes.at(-1)!.profile.reconciles)}`);
    log(`  store calls: ${JSON.stringify(passes.at(-1)!.profile.storeCalls)}`);
    await waitQuiet(db, manager);
  }
  global.gc?.();
  const memory = process.memoryUsage();
  const rssMiB = Math.round(memory.rss / 2 ** 20);
  const heapUsedMiB = Math.round(memory.heapUsed / 2 ** 20);

  // What node heartbeats cost at this size: NodeManager rewrites a Node's status (lastHeartbeatTime)
  // every 20 s (heartbeatWriteMs), so 100 nodes write 5 a second. Here 10 at once, then until idle.
  const heartbeatNodes = Math.min(10, nodeCount);
  const beat = new Date().toISOString();
  profile.reset(true);
  const heartbeatStarted = performance.now();
  await store.updateStatuses(
    Array.from({ length: heartbeatNodes }, (_, index) => ({
      key: { kind: "Node", namespace: "", name: `node-${index}` },
      status: {
        conditions: [{ type: "Ready", status: "True", reason: "AgentReady", message: "bench", lastTransitionTime: now, lastHeartbeatTime: beat }],
      },
    })),
  );
  await sleep(50);
  await untilIdle(manager, profile);
  const heartbeatsMs = Math.round(performance.now() - heartbeatStarted);
  profile.reset(false);
  const heartbeatProfile = profile.snapshot();
  log(`${heartbeatNodes} node heartbeats digested in ${heartbeatsMs} ms: ${JSON.stringify(heartbeatProfile)}`);

  // The store reads a pass is made of, one of each.
  const readCosts = await measureReads(store);
  log(`reads: ${JSON.stringify(readCosts)}`);

  const first = passes[0]!;
  const median = [...passes].sort((a, b) => a.ms - b.ms)[Math.floor(passes.length / 2)]!;
  process.stdout.write(
    `${JSON.stringify({
      bench: "reconcile",
      objects,
      nodes: nodeCount,
      deployments: deploymentCount,
      pods: podCount,
      buildMs: Math.round(buildMs),
      fullPassMs: first.ms,
      fullPassMedianMs: median.ms,
      passesMs: passes.map((pass) => pass.ms),
      writesDuringPass: first.writes,
      eventsDuringPass: first.events,
      rssMiB,
      heapUsedMiB,
      // Per reconciler during the first pass: keys run and the sum of their wall times (4 run at once).
      reconcilesDuringPass: first.profile.reconciles,
      // Per store method (listObjects by kind) during the first pass: calls and summed wall time.
      storeCallsDuringPass: first.profile.storeCalls,
      readCostsMs: readCosts,
      heartbeats: { nodes: heartbeatNodes, untilIdleMs: heartbeatsMs, ...heartbeatProfile },
      goalFullPassMs,
      goalRssMiB,
      goalsMet: { fullPass: first.ms <= goalFullPassMs, rss: rssMiB <= goalRssMiB },
    })}\n`,
  );
} finally {
  await kubelet?.stop();
  await controllers?.stop();
  await listener?.close();
  await database?.close();
}

// ---------------------------------------------------------------- helpers

/**
 * The node side, faked: every 200 ms (NodeManager's default status flush)
 * the pods bound to a node that are not yet Running are reported Running and
 * ready in one batch, in the shape the node link stores.
 */
function startKubelet(db: BenchDatabase["pool"], store: PgDesiredStore): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const { rows } = await db.query<{ namespace: string; name: string; uid: string }>(
        `SELECT namespace, name, uid FROM objects
         WHERE kind = 'Pod' AND deleted_at IS NULL AND coalesce(spec->>'nodeName', '') <> ''
           AND coalesce(status->>'phase', '') <> 'Running'`,
      );
      if (rows.length > 0) {
        const at = new Date();
        const updates: StatusUpdate[] = rows.map((row) => ({
          key: { kind: "Pod", namespace: row.namespace, name: row.name },
          uid: row.uid,
          status: storedPodStatus(
            {
              uid: row.uid,
              namespace: row.namespace,
              name: row.name,
              phase: "Running",
              ready: true,
              startTime: at.toISOString(),
              initContainerStatuses: [],
              containerStatuses: [
                { name: "web", runtime: "process", state: { running: { startedAt: at.toISOString() } }, ready: true, started: true, restartCount: 0, ports: { http: 30_000 } },
              ],
            },
            "127.0.0.1",
            at,
          ),
        }));
        await store.updateStatuses(updates);
      }
      await sleep(200);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** One of each read a pass is made of, timed (median of 5), to tell the store's part from the reconcilers'. */
async function measureReads(store: PgDesiredStore): Promise<Record<string, number>> {
  const time = async (read: () => Promise<unknown>): Promise<number> => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await read();
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    return Math.round(samples[2]! * 100) / 100;
  };
  const deployment = (await store.getObject({ kind: "Deployment", namespace: "alpha", name: "app-0" }))!;
  return {
    getObject: await time(() => store.getObject({ kind: "Deployment", namespace: "alpha", name: "app-0" })),
    listOwnedReplicaSets: await time(() => store.listObjects({ kind: "ReplicaSet", namespace: "alpha", ownerUid: deployment.uid })),
    listAllPods: await time(() => store.listObjects({ kind: "Pod" })),
    listAllNodes: await time(() => store.listObjects({ kind: "Node" })),
  };
}
