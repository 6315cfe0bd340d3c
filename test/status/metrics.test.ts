import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { register as globalRegister } from "prom-client";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, validateFiles, type CommitInfo, type ObjectKey } from "../../src/desired/index.ts";
import { GitSync, openGitSource } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { FakeNodeClient, NodeManager, type AgentTransport } from "../../src/nodes/index.ts";
import { ControllerManager, cronJobReconciler, jobReconciler, type Reconciler } from "../../src/reconcilers/index.ts";
import { createStatusApp, Metrics, type Leadership, type MetricsSources } from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { parseExposition, valueOf, type Exposition } from "../helpers/prometheus-text.ts";
import { reconcileContext } from "../helpers/reconcile-context.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.ts";

/**
 * GET /metrics on a real store: every family in the Prometheus text format,
 * and each value moving when the thing it counts happens (a sync of a real
 * Git repository, a reconcile, a CronJob run, a node link redialled, a pod
 * stored). Each control plane has its own registry.
 */

let database: TestDatabase;
let store: PgDesiredStore;

beforeEach(async () => {
  database = await createTestDatabase();
  store = new PgDesiredStore(database.pool);
});

afterEach(async () => {
  await database.drop();
});

function metricsFor(sources: Partial<MetricsSources> = {}): Metrics {
  return new Metrics({ store, clock: systemClock, log: silentLogger, ...sources });
}

async function scrape(metrics: Metrics, leadership?: () => Leadership): Promise<Exposition> {
  const app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, metrics, leadership });
  const response = await app.request("/metrics");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

const families: Record<string, string> = {
  capstan_sync_duration_seconds: "histogram",
  capstan_sync_errors_total: "counter",
  capstan_git_source_up: "gauge",
  capstan_git_source_last_success_timestamp_seconds: "gauge",
  capstan_revision_lag_seconds: "gauge",
  capstan_revisions_behind: "gauge",
  capstan_store_up: "gauge",
  capstan_reconcile_duration_seconds: "histogram",
  capstan_reconcile_errors_total: "counter",
  capstan_reconcile_queue_depth: "gauge",
  capstan_pods: "gauge",
  capstan_node_ready: "gauge",
  capstan_workloads: "gauge",
  capstan_ssh_reconnects_total: "counter",
  capstan_node_link_up: "gauge",
  capstan_cronjob_runs_total: "counter",
  capstan_leader: "gauge",
  capstan_fenced_writes_total: "counter",
  capstan_http_request_duration_seconds: "histogram",
  // Two of collectDefaultMetrics' process metrics.
  process_cpu_user_seconds_total: "counter",
  nodejs_eventloop_lag_seconds: "gauge",
};

describe("GET /metrics", () => {
  it("declares every family with its type in the Prometheus text format, and 404s when the app has no metrics", async () => {
    const exposition = await scrape(metricsFor());
    for (const [family, type] of Object.entries(families)) expect([family, exposition.types.get(family)]).toEqual([family, type]);
    // Every sync error reason is there from the start, at 0, so that rate() has a series to work on.
    for (const reason of ["fetch", "rejected", "apply"]) expect(valueOf(exposition, "capstan_sync_errors_total", { reason })).toBe(0);
    expect(valueOf(exposition, "capstan_store_up")).toBe(1);
    const bare = createStatusApp({ store, log: silentLogger, storeReachable: async () => true });
    expect((await bare.request("/metrics")).status).toBe(404);
  });

  it("gives each control plane its own registry: two apps share no value, and the global registry stays empty", async () => {
    const first = metricsFor();
    const second = metricsFor();
    first.passEnded({ outcome: "applied", seconds: 0.2 });
    first.redialled("n1", 2);
    expect(valueOf(await scrape(first), "capstan_sync_duration_seconds_count", { outcome: "applied" })).toBe(1);
    const other = await scrape(second);
    expect(valueOf(other, "capstan_sync_duration_seconds_count", { outcome: "applied" })).toBeUndefined();
    expect(valueOf(other, "capstan_ssh_reconnects_total", { node: "n1" })).toBeUndefined();
    expect(await globalRegister.getSingleMetric("capstan_sync_duration_seconds")).toBeUndefined();
  });

  it("times HTTP requests by method, route pattern and status, never by raw path or unknown method", async () => {
    const metrics = metricsFor();
    const app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, metrics });
    await app.request("/api/revisions?limit=2");
    await app.request("/api/revisions?limit=abc");
    await app.request("/api/pods/default/web-1/logs");
    await app.request("/no/such/page-4f2a");
    await app.request("/api/revisions", { method: "PROPFIND" });
    const exposition = parseExposition(await (await app.request("/metrics")).text());
    const count = (labels: Record<string, string>) => valueOf(exposition, "capstan_http_request_duration_seconds_count", labels);
    expect(count({ method: "GET", route: "/api/revisions", status: "200" })).toBe(1);
    expect(count({ method: "GET", route: "/api/revisions", status: "400" })).toBe(1);
    expect(count({ method: "GET", route: "/api/pods/:namespace/:name/logs" })).toBe(1);
    expect(count({ method: "GET", route: "unmatched", status: "404" })).toBe(1);
    expect(count({ method: "other", route: "unmatched", status: "404" })).toBe(1);
    const routes = new Set(exposition.samples.filter((sample) => sample.name.startsWith("capstan_http_request")).map((sample) => sample.labels.route));
    expect([...routes].sort()).toEqual(["/api/pods/:namespace/:name/logs", "/api/revisions", "unmatched"]);
  });

  describe("the Git sync of a real repository", () => {
    let repo: TestRepo;
    let cache: Awaited<ReturnType<typeof tempDir>>;
    beforeEach(async () => {
      repo = await createRepo();
      cache = await tempDir("capstan-metrics-cache-");
    });
    afterEach(async () => {
      await repo.cleanup();
      await cache.cleanup();
    });

    it("times each pass, counts a rejected commit once and a failed fetch, and reports the source's state and the revision lag", async () => {
      const clock = new ManualClock(Date.now());
      const metrics = metricsFor({ clock });
      const syncFrom = (url: string) =>
        new GitSync({
          source: openGitSource({ url, branch: "main", cacheDir: cache.path }),
          store,
          clock: systemClock,
          log: silentLogger,
          describe: { url: "local", branch: "main", path: "" },
          pollIntervalMs: 3_600_000,
          observer: metrics,
        });
      const sync = syncFrom(repo.dir);

      await repo.write("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: '1'\n");
      const good = await repo.commit("good");
      expect((await sync.syncOnce()).result).toBe("applied");
      let exposition = await scrape(metrics);
      expect(valueOf(exposition, "capstan_sync_duration_seconds_count", { outcome: "applied" })).toBe(1);
      expect(valueOf(exposition, "capstan_sync_duration_seconds_sum", { outcome: "applied" })).toBeGreaterThan(0);
      expect(valueOf(exposition, "capstan_git_source_up")).toBe(1);
      expect(Math.abs(valueOf(exposition, "capstan_git_source_last_success_timestamp_seconds")! - Date.now() / 1000)).toBeLessThan(60);
      expect(valueOf(exposition, "capstan_revision_lag_seconds")).toBe(0);
      expect(valueOf(exposition, "capstan_revisions_behind")).toBe(0);

      // A commit that fails validation: the previous revision stays live, and the lag runs from the bad commit's time.
      const committedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      await repo.write("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n");
      await repo.commit("bad", { date: committedAt });
      expect((await sync.syncOnce()).result).toBe("rejected");
      expect((await sync.syncOnce()).result).toBe("unchanged");
      await clock.advance(committedAt.getTime() + 90_000 - clock.now().getTime());
      exposition = await scrape(metrics);
      expect(valueOf(exposition, "capstan_sync_errors_total", { reason: "rejected" })).toBe(1);
      expect(valueOf(exposition, "capstan_sync_duration_seconds_count", { outcome: "rejected" })).toBe(1);
      expect(valueOf(exposition, "capstan_sync_duration_seconds_count", { outcome: "unchanged" })).toBe(1);
      expect(valueOf(exposition, "capstan_revisions_behind")).toBe(1);
      expect(valueOf(exposition, "capstan_revision_lag_seconds")).toBe(90);

      // A source that does not answer: a fetch error, and the source reported down; the last success stays.
      const lastSuccess = valueOf(exposition, "capstan_git_source_last_success_timestamp_seconds");
      await expect(syncFrom(`${repo.dir}-gone`).syncOnce()).rejects.toThrow();
      exposition = await scrape(metrics);
      expect(valueOf(exposition, "capstan_sync_errors_total", { reason: "fetch" })).toBe(1);
      expect(valueOf(exposition, "capstan_sync_duration_seconds_count", { outcome: "fetchFailed" })).toBe(1);
      expect(valueOf(exposition, "capstan_sync_errors_total", { reason: "apply" })).toBe(0);
      expect(valueOf(exposition, "capstan_git_source_up")).toBe(0);
      expect(valueOf(exposition, "capstan_git_source_last_success_timestamp_seconds")).toBe(lastSuccess);

      // Fixed, then force-pushed back to the first commit: in sync each time, the commits in between being history.
      await repo.write("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: '2'\n");
      await repo.commit("fixed");
      expect((await sync.syncOnce()).result).toBe("applied");
      exposition = await scrape(metrics);
      expect([valueOf(exposition, "capstan_revisions_behind"), valueOf(exposition, "capstan_revision_lag_seconds")]).toEqual([0, 0]);
      await repo.resetTo(good);
      expect(await sync.syncOnce()).toMatchObject({ result: "applied", sha: good });
      exposition = await scrape(metrics);
      expect([valueOf(exposition, "capstan_revisions_behind"), valueOf(exposition, "capstan_revision_lag_seconds")]).toEqual([0, 0]);
      expect(valueOf(exposition, "capstan_git_source_up")).toBe(1);
    });
  });

  it("records each reconcile's duration and failures for its kind, and the queue depth of each controller", async () => {
    const metrics = metricsFor();
    const ok: Reconciler = { kind: "ConfigMap", name: "configmap-check", reconcile: async () => ({}) };
    const failing: Reconciler = {
      kind: "Secret",
      name: "secret-check",
      reconcile: async () => {
        throw new Error("boom");
      },
    };
    const secretValue = "s3cr3t-planted-value";
    await store.createObject({ apiVersion: "v1", kind: "ConfigMap", namespace: "default", name: "a", spec: { data: { v: "1" } } });
    await store.createObject({ apiVersion: "v1", kind: "Secret", namespace: "default", name: "db", spec: { stringData: { password: secretValue } } });
    // An hour of back-off: the failing key runs once in this test.
    const manager = new ControllerManager({ store, clock: systemClock, log: silentLogger, reconcilers: [ok, failing], observer: metrics, backoff: { initialMs: 3_600_000, maxMs: 3_600_000 }, resyncIntervalMs: 0 });
    const idle = new ControllerManager({ store, clock: systemClock, log: silentLogger, reconcilers: [ok], resyncIntervalMs: 0 });
    const queued = metricsFor({ queues: () => idle.stats() });
    try {
      await manager.start();
      await expect.poll(async () => valueOf(await scrape(metrics), "capstan_reconcile_errors_total", { kind: "Secret", controller: "secret-check" }), { timeout: 10_000 }).toBe(1);
      const exposition = await scrape(metrics);
      expect(valueOf(exposition, "capstan_reconcile_duration_seconds_count", { kind: "ConfigMap", controller: "configmap-check" })).toBe(1);
      expect(valueOf(exposition, "capstan_reconcile_duration_seconds_count", { kind: "Secret", controller: "secret-check" })).toBe(1);
      expect(valueOf(exposition, "capstan_reconcile_errors_total", { kind: "ConfigMap", controller: "configmap-check" })).toBeUndefined();

      // Not started: what is enqueued waits, and the gauge counts it.
      for (const name of ["x", "y", "z"]) idle.enqueue("ConfigMap", { kind: "ConfigMap", namespace: "default", name });
      expect(valueOf(await scrape(queued), "capstan_reconcile_queue_depth", { kind: "ConfigMap", controller: "configmap-check" })).toBe(3);
      const text = await (await createStatusApp({ store, log: silentLogger, storeReachable: async () => true, metrics }).request("/metrics")).text();
      expect(text).not.toContain(secretValue);
    } finally {
      await manager.stop();
      await idle.stop();
    }
  });

  it("computes pods by phase, node readiness and workloads by health from the store at each scrape, on a follower too", async () => {
    const pod = async (name: string, phase?: string) => {
      await store.createObject({ apiVersion: "v1", kind: "Pod", namespace: "default", name, spec: { containers: [] } });
      if (phase) await store.updateStatuses([{ key: { kind: "Pod", namespace: "default", name }, status: { phase } }]);
    };
    await pod("a", "Running");
    await pod("b", "Running");
    await pod("c");
    await pod("d", "Failed");
    for (const [name, ready] of [["n1", "True"], ["n2", "False"]] as const) {
      await store.createObject({ apiVersion: "capstan.dev/v1", kind: "Node", namespace: "", name, spec: { address: "10.0.0.1" } });
      await store.updateStatuses([{ key: { kind: "Node", namespace: "", name }, status: { conditions: [{ type: "Ready", status: ready }] } }]);
    }
    for (const [name, health] of [["web", "Healthy"], ["api", "Degraded"], ["worker", "Healthy"]]) {
      await store.createObject({ apiVersion: "apps/v1", kind: "Deployment", namespace: "default", name: name!, spec: { replicas: 1, selector: { matchLabels: { app: name! } } } });
      await store.updateStatuses([{ key: { kind: "Deployment", namespace: "default", name: name! }, status: { health } }]);
    }
    const follower: Leadership = { mode: "replicas", replica: "b", role: "follower", leader: { replica: "a", url: null, token: 4 }, fencedWrites: 3 };
    const metrics = metricsFor({ leadership: () => follower });
    let exposition = await scrape(metrics, () => follower);
    expect(valueOf(exposition, "capstan_pods", { phase: "Running" })).toBe(2);
    expect(valueOf(exposition, "capstan_pods", { phase: "Pending" })).toBe(1);
    expect(valueOf(exposition, "capstan_pods", { phase: "Failed" })).toBe(1);
    expect(valueOf(exposition, "capstan_node_ready", { node: "n1" })).toBe(1);
    expect(valueOf(exposition, "capstan_node_ready", { node: "n2" })).toBe(0);
    expect(valueOf(exposition, "capstan_workloads", { kind: "Deployment", health: "Healthy" })).toBe(2);
    expect(valueOf(exposition, "capstan_workloads", { kind: "Deployment", health: "Degraded" })).toBe(1);
    expect(valueOf(exposition, "capstan_leader")).toBe(0);
    expect(valueOf(exposition, "capstan_fenced_writes_total")).toBe(3);

    await store.deleteObject({ kind: "Pod", namespace: "default", name: "a" });
    await store.deleteObject({ kind: "Node", namespace: "", name: "n2" });
    exposition = await scrape(metrics);
    expect(valueOf(exposition, "capstan_pods", { phase: "Running" })).toBe(1);
    expect(valueOf(exposition, "capstan_node_ready", { node: "n2" })).toBeUndefined();
    const leading = metricsFor({ leadership: () => ({ ...follower, role: "leader", fencedWrites: 0 }) });
    expect(valueOf(await scrape(leading), "capstan_leader")).toBe(1);
  });

  describe("CronJob runs", () => {
    let clock: ManualClock;
    let metrics: Metrics;
    const context = (source: string) => ({ ...reconcileContext(store, clock, source), cronJobRuns: metrics });
    const cronKey: ObjectKey = { kind: "CronJob", namespace: "default", name: "report" };
    const runs = (outcome: string, exposition: Exposition) => valueOf(exposition, "capstan_cronjob_runs_total", { namespace: "default", cronjob: "report", outcome });

    /** Stores the CronJob, moves the clock past its first minute, and has the CronJob controller make the run's Job (twice: one Job). */
    async function startRun(jobSpec: string): Promise<{ jobKey: ObjectKey; finish(phase: "Succeeded" | "Failed"): Promise<void> }> {
      clock = new ManualClock(Date.now());
      metrics = metricsFor();
      const content = `apiVersion: batch/v1
kind: CronJob
metadata: { name: report, namespace: default }
spec:
  schedule: "* * * * *"
  timeZone: UTC
  jobTemplate:
    spec:
${jobSpec}      template:
        spec:
          restartPolicy: Never
          containers: [{ name: work, command: [/bin/true] }]
`;
      const { objects, problems } = validateFiles([{ path: "cron.yaml", content }]);
      expect(problems).toEqual([]);
      const info: CommitInfo = { sha: "c1", parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: clock.now() };
      await store.applyRevision(info, objects, []);
      const created = (await store.getObject(cronKey))!.createdAt.getTime();
      await clock.advance(Math.ceil((created + 1) / 60_000) * 60_000 + 2_000 - clock.now().getTime());
      await cronJobReconciler.reconcile(context("cronjob-controller"), cronKey);
      await cronJobReconciler.reconcile(context("cronjob-controller"), cronKey);
      const [job] = await store.listObjects({ kind: "Job", namespace: "default" });
      const jobKey: ObjectKey = { kind: "Job", namespace: "default", name: job!.name };
      await jobReconciler.reconcile(context("job-controller"), jobKey);
      const [pod] = await store.listObjects({ kind: "Pod", namespace: "default", ownerUid: job!.uid });
      return {
        jobKey,
        finish: async (phase) => {
          const terminated = { exitCode: phase === "Succeeded" ? 0 : 1, reason: phase === "Succeeded" ? "Completed" : "Error", finishedAt: clock.now().toISOString() };
          await store.updateStatuses([{ key: { kind: "Pod", namespace: "default", name: pod!.name }, uid: pod!.uid, status: { phase, containerStatuses: [{ name: "work", restartCount: 0, state: { terminated } }] } }]);
        },
      };
    }

    it("counts each run once: its Job created, then its Job succeeded", async () => {
      const { jobKey, finish } = await startRun("");
      let exposition = await scrape(metrics);
      expect(runs("created", exposition)).toBe(1);
      expect(runs("succeeded", exposition)).toBeUndefined();
      await finish("Succeeded");
      await jobReconciler.reconcile(context("job-controller"), jobKey);
      await jobReconciler.reconcile(context("job-controller"), jobKey);
      exposition = await scrape(metrics);
      expect([runs("created", exposition), runs("succeeded", exposition), runs("failed", exposition)]).toEqual([1, 1, undefined]);
    });

    it("counts a failed run whose Job is deleted in the pass that fails it (ttlSecondsAfterFinished 0)", async () => {
      const { jobKey, finish } = await startRun("      backoffLimit: 0\n      ttlSecondsAfterFinished: 0\n");
      await finish("Failed");
      await jobReconciler.reconcile(context("job-controller"), jobKey);
      expect(await store.getObject(jobKey)).toBeNull();
      await jobReconciler.reconcile(context("job-controller"), jobKey);
      const exposition = await scrape(metrics);
      expect([runs("created", exposition), runs("succeeded", exposition), runs("failed", exposition)]).toEqual([1, undefined, 1]);
    });
  });

  it("counts a node link's redials and shows whether each link is up", async () => {
    const clock = new ManualClock(Date.now());
    const fakes = new Map<string, FakeNodeClient>();
    await store.createObject({ apiVersion: "capstan.dev/v1", kind: "Node", namespace: "", name: "n1", spec: { address: "10.0.0.1" } });
    let manager: NodeManager | undefined;
    const metrics = metricsFor({ links: () => manager?.links() ?? [] });
    manager = new NodeManager({
      store,
      clock,
      log: silentLogger,
      transportFor: () => ({}) as AgentTransport,
      clientFor: (node) => {
        const fake = new FakeNodeClient({ node: node.name, clock });
        fakes.set(node.name, fake);
        return fake;
      },
      observer: metrics,
    });
    try {
      await manager.start();
      expect(valueOf(await scrape(metrics), "capstan_node_link_up", { node: "n1" })).toBe(1);
      fakes.get("n1")!.disconnect();
      expect(valueOf(await scrape(metrics), "capstan_node_link_up", { node: "n1" })).toBe(0);
      fakes.get("n1")!.reconnect();
      fakes.get("n1")!.disconnect();
      fakes.get("n1")!.reconnect();
      const exposition = await scrape(metrics);
      expect(valueOf(exposition, "capstan_ssh_reconnects_total", { node: "n1" })).toBe(2);
      expect(valueOf(exposition, "capstan_node_link_up", { node: "n1" })).toBe(1);
    } finally {
      await manager.stop();
    }
  });
});
