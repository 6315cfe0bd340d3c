/**
 * What one scrape of /metrics costs with a store of the size the page's
 * benchmark uses: 1,000 Pods (in four phases), 20 Nodes, 100 Deployments and
 * 1,000 events, plus a registry that has seen 10,000 reconciles and 100 sync
 * passes. The store-derived gauges read the store at every scrape, so this
 * is mostly those reads. Goal: p99 ≤ 100 ms (a scraper polls every 15 s).
 *
 * 200 scrapes through the app (no socket), after 10 to warm up; p50 and p99
 * of the full answer, and its size.
 *
 * Uses DATABASE_URL when set, otherwise an embedded PostgreSQL in a temp dir.
 * Prints one JSON line.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../src/clock.ts";
import { createPool, migrate, startEmbeddedPostgres } from "../src/db/index.ts";
import { PgDesiredStore, type StatusUpdate } from "../src/desired/index.ts";
import { silentLogger } from "../src/logging.ts";
import { createStatusApp, Metrics } from "../src/status/index.ts";

const podCount = 1_000;
const nodeCount = 20;
const deploymentCount = 100;
const eventCount = 1_000;
const scrapes = 200;
const goalP99Ms = 100;

const work = await mkdtemp(join(tmpdir(), "capstan-bench-metrics-"));
let stopDatabase: (() => Promise<void>) | undefined;
let pool: ReturnType<typeof createPool> | undefined;
try {
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const embedded = await startEmbeddedPostgres({ dataDir: join(work, "pg") });
    stopDatabase = () => embedded.stop();
    databaseUrl = embedded.url;
  }
  pool = createPool(databaseUrl);
  await migrate(pool);
  await pool.query("TRUNCATE revisions, objects, events, sync_state RESTART IDENTITY CASCADE");
  const store = new PgDesiredStore(pool);

  const statuses: StatusUpdate[] = [];
  for (let index = 0; index < nodeCount; index++) {
    const name = `node-${index}`;
    await store.createObject({ apiVersion: "capstan.dev/v1", kind: "Node", namespace: "", name, spec: { address: `10.0.0.${index + 1}` } });
    statuses.push({ key: { kind: "Node", namespace: "", name }, status: { conditions: [{ type: "Ready", status: index % 10 === 0 ? "False" : "True" }] } });
  }
  for (let index = 0; index < deploymentCount; index++) {
    const name = `app-${index}`;
    await store.createObject({ apiVersion: "apps/v1", kind: "Deployment", namespace: "default", name, spec: { replicas: 10, selector: { matchLabels: { app: name } } } });
    statuses.push({ key: { kind: "Deployment", namespace: "default", name }, status: { health: index % 7 === 0 ? "Degraded" : "Healthy" } });
  }
  const phases = ["Running", "Running", "Running", "Pending", "Succeeded", "Failed"];
  for (let index = 0; index < podCount; index++) {
    const name = `pod-${index}`;
    await store.createObject({ apiVersion: "v1", kind: "Pod", namespace: "default", name, spec: { nodeName: `node-${index % nodeCount}`, containers: [{ name: "main", command: ["/bin/true"] }] } });
    statuses.push({ key: { kind: "Pod", namespace: "default", name }, status: { phase: phases[index % phases.length] } });
  }
  await store.updateStatuses(statuses);
  for (let index = 0; index < eventCount; index++) {
    await store.recordEvent({ kind: "Pod", namespace: "default", name: `pod-${index}`, type: "Normal", reason: "Scheduled", message: `bound to node-${index % nodeCount}`, source: "scheduler" });
  }

  const metrics = new Metrics({ store, clock: systemClock, log: silentLogger });
  const kinds = ["Deployment", "ReplicaSet", "Pod", "Service", "Job", "CronJob", "DaemonSet", "StatefulSet"];
  for (let index = 0; index < 10_000; index++) {
    metrics.reconciled({ kind: kinds[index % kinds.length]!, controller: `c-${index % kinds.length}`, seconds: (index % 50) / 1000, failed: index % 97 === 0 });
  }
  for (let index = 0; index < 100; index++) metrics.passEnded({ outcome: index % 10 === 0 ? "applied" : "unchanged", seconds: 0.05 });
  const app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, metrics });

  const scrape = async (): Promise<{ ms: number; bytes: number }> => {
    const started = performance.now();
    const response = await app.request("/metrics");
    const body = await response.text();
    if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
    return { ms: performance.now() - started, bytes: Buffer.byteLength(body) };
  };
  for (let index = 0; index < 10; index++) await scrape();
  const timings: number[] = [];
  let bytes = 0;
  for (let index = 0; index < scrapes; index++) {
    const result = await scrape();
    timings.push(result.ms);
    bytes = result.bytes;
  }
  timings.sort((a, b) => a - b);
  const at = (quantile: number) => Math.round(timings[Math.min(timings.length - 1, Math.floor(quantile * timings.length))]! * 10) / 10;
  const p99 = at(0.99);
  console.log(
    JSON.stringify({
      bench: "metrics",
      pods: podCount,
      nodes: nodeCount,
      deployments: deploymentCount,
      events: eventCount,
      scrapes,
      p50Ms: at(0.5),
      p99Ms: p99,
      bytes,
      goalP99Ms,
      ok: p99 <= goalP99Ms,
    }),
  );
} finally {
  await pool?.end();
  await stopDatabase?.();
  await rm(work, { recursive: true, force: true });
}
