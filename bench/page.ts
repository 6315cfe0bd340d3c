/**
 * The status page and its JSON twin under a realistic store: 1,000 objects
 * (Deployments with rollout status, their ReplicaSets and Pods, Nodes,
 * Services, ConfigMaps) and 1,000 events in a real PostgreSQL, served by the
 * real status server listening on a port, wired as `capstan up` wires it
 * (the change feed that keeps the overview cached between changes, request
 * metrics). 200 sequential GETs each of `/`
 * and `/api/status` over keep-alive HTTP, timed with node:http: TTFB at the
 * response head, full time at the body's end. Goal: p99 ≤ 50 ms for `/`.
 * Prints one JSON line; any answer other than 200 fails the bench.
 *
 * Uses DATABASE_URL when set (its tables are emptied first), otherwise an
 * embedded PostgreSQL in a temp dir.
 */
import { Agent, request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createPool, migrate, startEmbeddedPostgres } from "../src/db/index.ts";
import { PgDesiredStore, PgRolloutLog, validateFiles, type StoredObject } from "../src/desired/index.ts";
import { systemClock } from "../src/clock.ts";
import { silentLogger } from "../src/logging.ts";
import { createStatusApp, listen, LiveUpdates, Metrics, pgChangeFeed } from "../src/status/index.ts";

const requestsPerPath = Number(process.env.BENCH_PAGE_REQUESTS ?? 200);
const warmup = 20;
const goalP99Ms = 50;
const nodeCount = 10;
const deploymentCount = 100;
const podsPerDeployment = 5;
const serviceCount = 100;
const namespaces = ["shop", "billing", "search", "ops"];
/** The rest of the 1,000 objects: 4 Namespaces, 10 Nodes, 100 Deployments, 100 ReplicaSets, 500 Pods, 100 Services, 186 ConfigMaps. */
const configMapCount = 1_000 - namespaces.length - nodeCount - deploymentCount * (2 + podsPerDeployment) - serviceCount;
const eventCount = 1_000;

async function main(): Promise<void> {
  let root: string | undefined;
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    root = await mkdtemp(join(tmpdir(), "capstan-bench-page-"));
    embedded = await startEmbeddedPostgres({ dataDir: join(root, "pg"), database: "postgres" });
    url = embedded.url;
  }
  const pool = createPool(url);
  let server: Awaited<ReturnType<typeof listen>> | undefined;
  let live: LiveUpdates | undefined;
  try {
    await migrate(pool);
    await pool.query("TRUNCATE objects, events, revisions, sync_state RESTART IDENTITY CASCADE");
    const store = new PgDesiredStore(pool);
    const started = performance.now();
    const objects = await seed(store);
    process.stderr.write(`seeded ${objects} objects and ${eventCount} events in ${Math.round(performance.now() - started)} ms\n`);

    // Wired as `capstan up` wires them: the change feed (which keeps the overview's cache current) and request metrics.
    live = await LiveUpdates.start({ feed: pgChangeFeed({ databaseUrl: url, store, log: silentLogger }), log: silentLogger });
    const metrics = new Metrics({ store, clock: systemClock, log: silentLogger, leadership: () => ({ mode: "single", replica: "bench", role: "leader", leader: null, fencedWrites: 0 }), queues: () => [], links: () => [] });
    const app = createStatusApp({
      live,
      metrics,
      store,
      log: silentLogger,
      rollouts: new PgRolloutLog(pool),
      storeReachable: async () => true,
      token: "bench-token-0123456789abcdef",
      syncNow: () => undefined,
    });
    server = await listen(app, "127.0.0.1", 0);
    await expectFullPage(server.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const results: Record<string, Timings> = {};
    for (const path of ["/", "/api/status"]) {
      for (let index = 0; index < warmup; index++) await get(agent, `${server.url}${path}`);
      const samples: Sample[] = [];
      const cpu = process.cpuUsage();
      for (let index = 0; index < requestsPerPath; index++) samples.push(await get(agent, `${server.url}${path}`));
      const used = process.cpuUsage(cpu);
      results[path] = { ...timings(samples), cpuMsPerRequest: round1((used.user + used.system) / 1000 / requestsPerPath) };
      process.stderr.write(`${path}: ${JSON.stringify(results[path])}\n`);
    }
    const afterChange = await pageAfterEachChange(agent, server.url, store, live);
    process.stderr.write(`/ after a change: ${JSON.stringify(afterChange)}\n`);
    agent.destroy();
    const page = results["/"]!;
    process.stdout.write(
      `${JSON.stringify({
        bench: "page",
        objects,
        events: eventCount,
        requests: requestsPerPath,
        page,
        pageAfterChange: afterChange,
        apiStatus: results["/api/status"],
        goalP99Ms,
        met: page.fullP99Ms <= goalP99Ms,
        metAfterChange: afterChange.fullP99Ms <= goalP99Ms,
      })}\n`,
    );
  } finally {
    await live?.close();
    await server?.close();
    await pool.end();
    await embedded?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }
}

/**
 * `/` when the store changed just before each request — a pod's status
 * written and its change announced on the live stream, by which time the
 * overview's cache has let go of what it held — so every answer reads the
 * store and renders afresh, as the first reader after each change does.
 */
async function pageAfterEachChange(agent: Agent, base: string, store: PgDesiredStore, live: LiveUpdates): Promise<Timings> {
  const pod = (await store.listObjects({ kind: "Pod" }))[0]!;
  let announced: () => void = () => undefined;
  const unsubscribe = live.subscribe({ change: () => announced(), heartbeat: () => undefined, end: () => undefined });
  try {
    const samples: Sample[] = [];
    let cpuMicros = 0;
    for (let index = 0; index < warmup + requestsPerPath; index++) {
      const heard = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("a pod's status change was not announced on the live feed within 10 s")), 10_000);
        announced = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      // A value it never had: an unchanged status is not written, and nothing would be announced.
      const written = await store.updateStatuses([{ key: { kind: "Pod", namespace: pod.namespace, name: pod.name }, status: { lastProbeAt: `bench-${index}` } }]);
      if (written !== 1) throw new Error(`the pod's status was not written (${written} rows)`);
      await heard;
      const cpu = process.cpuUsage();
      const sample = await get(agent, `${base}/`);
      const used = process.cpuUsage(cpu);
      if (index >= warmup) {
        samples.push(sample);
        cpuMicros += used.user + used.system;
      }
    }
    return { ...timings(samples), cpuMsPerRequest: round1(cpuMicros / 1000 / requestsPerPath) };
  } finally {
    unsubscribe();
  }
}

/** The timed answers must be the whole page of this store, not an error or an empty page that happens to be 200. */
async function expectFullPage(base: string): Promise<void> {
  const html = await (await fetch(`${base}/`)).text();
  const count = (pattern: RegExp) => html.match(pattern)?.length ?? 0;
  const found = { workloads: count(/<tr data-workload=/g), nodes: count(/<tr data-node=/g), revisions: count(/<tr data-revision=/g), inSync: html.includes('data-state="in-sync"') };
  if (found.workloads !== deploymentCount || found.nodes !== nodeCount || found.revisions === 0 || !found.inSync) {
    throw new Error(`GET / does not show the seeded store: ${JSON.stringify(found)}`);
  }
}

interface Sample {
  ttfbMs: number;
  fullMs: number;
  bytes: number;
}

interface Timings {
  /**
   * This process's CPU per request (server and the tiny client; PostgreSQL's
   * own work not included): far less at the mercy of a shared machine's load
   * than the wall-clock figures.
   */
  cpuMsPerRequest?: number;
  ttfbP50Ms: number;
  ttfbP99Ms: number;
  fullP50Ms: number;
  fullP99Ms: number;
  bytes: number;
}

/** One GET: time to the response head (TTFB) and to the body's last byte; a non-200 throws. */
function get(agent: Agent, url: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { agent, headers: { accept: "text/html,application/json" } }, (response) => {
      const ttfbMs = performance.now() - start;
      let bytes = 0;
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (response.statusCode !== 200) chunks.push(chunk);
      });
      response.on("end", () => {
        if (response.statusCode !== 200) {
          reject(new Error(`GET ${url} answered ${response.statusCode}: ${Buffer.concat(chunks).toString("utf8").slice(0, 300)}`));
          return;
        }
        resolve({ ttfbMs, fullMs: performance.now() - start, bytes });
      });
      response.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function timings(samples: Sample[]): Timings {
  const percentile = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return round1(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
  };
  const ttfb = samples.map((sample) => sample.ttfbMs);
  const full = samples.map((sample) => sample.fullMs);
  return {
    ttfbP50Ms: percentile(ttfb, 50),
    ttfbP99Ms: percentile(ttfb, 99),
    fullP50Ms: percentile(full, 50),
    fullP99Ms: percentile(full, 99),
    bytes: samples.at(-1)!.bytes,
  };
}

/**
 * What a busy cluster's store holds: Git's objects applied as one revision
 * (after a few earlier ones, for the revisions list), the controllers'
 * ReplicaSets and Pods, statuses as the controllers and node links write
 * them (one Deployment in ten failed its rollout), and events. Returns how
 * many objects are live.
 */
async function seed(store: PgDesiredStore): Promise<number> {
  const files = [
    { path: "namespaces.yaml", content: namespaces.map((name) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`).join("---\n") },
    ...Array.from({ length: nodeCount }, (_, index) => ({ path: `nodes/node-${index}.yaml`, content: node(index) })),
    ...Array.from({ length: deploymentCount }, (_, index) => ({ path: `apps/app-${index}/deployment.yaml`, content: deployment(index) })),
    ...Array.from({ length: serviceCount }, (_, index) => ({ path: `apps/app-${index}/service.yaml`, content: service(index) })),
    ...Array.from({ length: configMapCount }, (_, index) => ({ path: `config/config-${index}.yaml`, content: configMap(index) })),
  ];
  const { objects, problems } = validateFiles(files);
  if (problems.some((problem) => problem.severity === "error")) throw new Error(`generated manifests are invalid: ${JSON.stringify(problems.slice(0, 3))}`);
  const base = Date.now() - 3_600_000;
  let parentSha: string | null = null;
  for (let index = 0; index < 20; index++) {
    const sha = (index + 1).toString(16).padStart(40, "a");
    const commit = { sha, parentSha, authorName: "Dev Eloper", authorEmail: "dev@example.com", message: `Change ${index}: tune app-${index}\n\nWhy it changed.`, committedAt: new Date(base + index * 60_000) };
    await store.applyRevision(commit, objects, problems);
    parentSha = sha;
  }
  await store.recordFetch({ url: "https://git.example.com/team/manifests.git", branch: "main", path: "", at: new Date(), error: null });

  const byKind = async (kind: string) => new Map((await store.listObjects({ kind })).map((object) => [`${object.namespace}/${object.name}`, object]));
  const deployments = await byKind("Deployment");
  const statuses: Parameters<PgDesiredStore["updateStatuses"]>[0] = [];
  for (let index = 0; index < nodeCount; index++) {
    statuses.push({
      key: { kind: "Node", namespace: "", name: `node-${index}` },
      status: {
        conditions: [{ type: "Ready", status: index === 7 ? "False" : "True", reason: index === 7 ? "NodeUnreachable" : "AgentReady", message: "", lastHeartbeatTime: new Date().toISOString() }],
        capacity: { cpuMillis: 8000, memoryBytes: 16 * 2 ** 30 },
        nodeInfo: { agentVersion: "0.1.0", runtimes: ["process", "docker"] },
        hostKey: { fingerprint: `SHA256:${"x".repeat(43)}`, trustedOnFirstUse: false },
      },
    });
  }
  for (let index = 0; index < deploymentCount; index++) {
    const deploymentObject = deployments.get(`${namespaceOf(index)}/app-${index}`)!;
    const failed = index % 10 === 3;
    const replicaSet = await store.createObject({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      namespace: deploymentObject.namespace,
      name: `app-${index}-7d9f8c6b5`,
      labels: { app: `app-${index}`, "pod-template-hash": "7d9f8c6b5" },
      spec: { replicas: podsPerDeployment, selector: { matchLabels: { app: `app-${index}` } }, template: (deploymentObject.spec as { template: unknown }).template as Record<string, unknown> },
      status: { replicas: podsPerDeployment, readyReplicas: failed ? 2 : podsPerDeployment, availableReplicas: failed ? 2 : podsPerDeployment },
      ownerUid: deploymentObject.uid,
    });
    for (let pod = 0; pod < podsPerDeployment; pod++) await createPod(store, deploymentObject, replicaSet, index, pod, failed && pod >= 2);
    statuses.push({
      key: { kind: "Deployment", namespace: deploymentObject.namespace, name: deploymentObject.name },
      observedGeneration: deploymentObject.generation,
      status: {
        replicas: podsPerDeployment,
        updatedReplicas: podsPerDeployment,
        readyReplicas: failed ? 2 : podsPerDeployment,
        availableReplicas: failed ? 2 : podsPerDeployment,
        health: failed ? "Degraded" : "Healthy",
        conditions: [
          { type: "Available", status: failed ? "False" : "True", reason: failed ? "MinimumReplicasUnavailable" : "MinimumReplicasAvailable" },
          failed
            ? { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: `ReplicaSet "app-${index}-7d9f8c6b5" has timed out progressing.` }
            : { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable", message: `ReplicaSet "app-${index}-7d9f8c6b5" has successfully progressed.` },
        ],
      },
    });
  }
  await store.updateStatuses(statuses);

  const kinds = ["Deployment", "ReplicaSet", "Pod", "Node"];
  for (let index = 0; index < eventCount; index++) {
    const warning = index % 7 === 0;
    await store.recordEvent({
      kind: kinds[index % kinds.length]!,
      namespace: kinds[index % kinds.length] === "Node" ? "" : namespaceOf(index),
      name: `app-${index % deploymentCount}`,
      type: warning ? "Warning" : "Normal",
      reason: warning ? "BackOff" : "Scheduled",
      message: warning ? `Back-off restarting failed container main (attempt ${index})` : `Successfully assigned to node-${index % nodeCount} (event ${index})`,
      source: warning ? "node-link" : "scheduler",
      at: new Date(base + index * 3_000),
    });
  }
  return (await store.listObjects()).length;
}

async function createPod(store: PgDesiredStore, deployment: StoredObject, replicaSet: StoredObject, index: number, pod: number, crashing: boolean): Promise<void> {
  const template = (deployment.spec as { template: { spec: Record<string, unknown> } }).template;
  await store.createObject({
    apiVersion: "v1",
    kind: "Pod",
    namespace: deployment.namespace,
    name: `app-${index}-7d9f8c6b5-${pod.toString(36).padStart(5, "x")}`,
    labels: { app: `app-${index}`, "pod-template-hash": "7d9f8c6b5" },
    spec: { ...template.spec, nodeName: `node-${(index + pod) % nodeCount}` },
    status: crashing
      ? { phase: "Running", ready: false, restartCount: 12, message: "container main exited with code 1", containerStatuses: [{ name: "main", ready: false, restartCount: 12, state: { waiting: { reason: "CrashLoopBackOff" } } }] }
      : { phase: "Running", ready: true, restartCount: 0, containerStatuses: [{ name: "main", ready: true, restartCount: 0, state: { running: { startedAt: new Date().toISOString() } } }] },
    ownerUid: replicaSet.uid,
  });
}

const namespaceOf = (index: number) => namespaces[index % namespaces.length]!;

function node(index: number): string {
  return `apiVersion: capstan.dev/v1\nkind: Node\nmetadata:\n  name: node-${index}\n  labels: { zone: zone-${index % 3} }\nspec:\n  address: 10.0.0.${index + 10}\n  user: deploy\n`;
}

function deployment(index: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${index}
  namespace: ${namespaceOf(index)}
spec:
  replicas: ${podsPerDeployment}
  progressDeadlineSeconds: 60
  selector:
    matchLabels: { app: app-${index} }
  template:
    metadata:
      labels: { app: app-${index} }
    spec:
      containers:
        - name: main
          command: ["node", "server.js"]
          ports: [{ name: http, containerPort: 8080 }]
          resources: { requests: { cpu: 100m, memory: 128Mi } }
          readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 5 }
`;
}

function service(index: number): string {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: app-${index}\n  namespace: ${namespaceOf(index)}\nspec:\n  selector: { app: app-${index} }\n  ports: [{ name: http, port: ${8000 + index}, targetPort: http }]\n`;
}

function configMap(index: number): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-${index}\n  namespace: ${namespaceOf(index)}\ndata:\n  value: "${index}"\n  settings.json: '{"retries": 3, "timeoutMs": 2500}'\n`;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

await main();
