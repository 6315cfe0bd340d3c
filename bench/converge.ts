/**
 * Commit → converged, end to end: the time from a `git commit` in the watched
 * repository (followed by the webhook's `sync.trigger()`) until a 10-replica
 * Deployment's change is fully ready on three SSH nodes, over 20 runs.
 * Goals: p50 ≤ 1 s, p99 ≤ 2 s.
 *
 * Everything is real and in-process except the hosts: `startControlPlane`
 * (embedded PostgreSQL unless DATABASE_URL is set), three sshd on
 * 127.0.0.2-4 with the real capstan-agent behind each, real processes. The
 * Deployment runs 10 replicas of a tiny Node HTTP server with
 * `maxSurge: 100%, maxUnavailable: 0` and NO readiness probe: as in
 * Kubernetes without a probe, a pod is ready as soon as its container has
 * started, so the figure is capstan's own latency, not an application's
 * warm-up. Each run changes one env value (a new template, so a new
 * ReplicaSet and 10 new pods) and ends when the Deployment's status in the
 * store says replicas = updatedReplicas = readyReplicas = availableReplicas
 * = 10 for the new generation (polled every 10 ms): `replicas` as well, as
 * `kubectl rollout status` checks, because while old pods are still active
 * the other three can read 10 with only some new pods ready. Before the next
 * run the old pods' processes must be gone, so runs do not overlap.
 *
 * Per run, each phase's end is taken from timestamps the system records
 * anyway (sync_state.last_fetch_at, the "revision applied" log line,
 * created_at of the ReplicaSet and pods, the Scheduled events, the agent's
 * pod startTime and container startedAt, the node link's Ready transition
 * time, the old pods' deleted_at) plus the 10 ms polls, so the breakdown
 * needs no timing code in src/. Medians of each phase go to the JSON line.
 *
 * Prints one JSON line.
 */
import { Writable } from "node:stream";
import pg from "pg";
import { pino } from "pino";
import { loadUpConfig } from "../src/config.ts";
import { startControlPlane, type ControlPlane } from "../src/controlplane.ts";
import { agentCommand, agentId, agentStateDir, processesOfAgent } from "../test/helpers/agent.ts";
import { createRepo, tempDir, type TestRepo } from "../test/helpers/git-fixture.ts";
import { requireSshd, startSshd, type SshdServer, sshNodeManifest } from "../test/helpers/sshd.ts";
import { webDeployment } from "../test/helpers/web-deployment.ts";

const runs = Number(process.env.BENCH_RUNS ?? 20);
const replicas = 10;
const goalP50Ms = 1_000;
const goalP99Ms = 2_000;
const commitAnnotation = "capstan.dev/commit";

const log = (message: string): void => void process.stderr.write(`[converge] ${message}\n`);

// The control plane's log, kept quiet except for warnings (echoed) and the sync's "revision applied" (timed).
const applied = new Map<string, number>();
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split("\n")) {
      if (!line) continue;
      try {
        const record = JSON.parse(line) as { level: number; msg: string; time: number; sha?: string };
        if (record.msg === "revision applied" && record.sha) applied.set(record.sha, record.time);
        else if (record.level >= 40) process.stderr.write(`[converge] control plane: ${line}\n`);
      } catch {
        // not JSON: ignore
      }
    }
    done();
  },
});
const controlPlaneLog = pino({ level: "info" }, logSink);

const servers: SshdServer[] = [];
const agents: { stateDir: string; cleanup(): Promise<void> }[] = [];
let repo: TestRepo | undefined;
let dataDir: { path: string; cleanup(): Promise<void> } | undefined;
let controlPlane: ControlPlane | undefined;
let db: pg.Pool | undefined;
try {
  requireSshd();
  servers.push(...(await Promise.all(["127.0.0.2", "127.0.0.3", "127.0.0.4"].map((address) => startSshd({ address })))));
  for (let index = 0; index < 3; index += 1) agents.push(await agentStateDir());
  repo = await createRepo();
  dataDir = await tempDir("capstan-bench-converge-");
  await repo.writeAll({
    ...Object.fromEntries(servers.map((sshd, index) => [`nodes/node-${index}.yaml`, nodeManifest(sshd, index)])),
    "web.yaml": deployment("v0"),
  });
  await repo.commit("three nodes and web v0");
  const env: Record<string, string> = process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {};
  controlPlane = await startControlPlane(
    loadUpConfig({ repo: repo.dir, dataDir: dataDir.path, port: "0", pollIntervalSeconds: "3600" }, env),
    controlPlaneLog,
  );
  db = new pg.Pool({ connectionString: controlPlane.databaseUrl, max: 2 });

  // The first version, fully ready (includes starting the agents over SSH).
  const startedFirst = Date.now();
  await waitFor(async () => (await deploymentState(db!)).done, 120_000);
  await settle(db, controlPlane);
  log(`first version ready in ${Date.now() - startedFirst} ms`);

  const totals: number[] = [];
  const phases: Record<string, number>[] = [];
  for (let run = 1; run <= runs; run++) {
    await repo.write("web.yaml", deployment(`v${run}`));
    const commitStarted = Date.now();
    const sha = await repo.commit(`web v${run}`);
    const t0 = Date.now();
    controlPlane.sync.trigger();
    const marks: Record<string, number> = {};
    for (;;) {
      const state = await deploymentState(db, sha);
      const now = Date.now();
      if (state.newPodsReadyInStore === replicas) marks.allNewReadyInStore ??= now;
      if (state.done && state.liveSha === sha) break;
      if (now - t0 > 60_000) throw new Error(`run ${run}: not converged after 60 s: ${JSON.stringify(state)}`);
      await sleep(10);
    }
    const total = Date.now() - t0;
    totals.push(total);
    const breakdown = await phaseBreakdown(db, sha, t0, marks, Date.now());
    breakdown.gitCommitItself = t0 - commitStarted;
    phases.push(breakdown);
    log(`run ${run}: ${total} ms  ${Object.entries(breakdown).map(([phase, ms]) => `${phase}=${ms}`).join(" ")}`);
    // BENCH_TIMELINE=1: every event, create and delete of the run, in order.
    if (process.env.BENCH_TIMELINE) await printTimeline(db, t0);
    await settle(db, controlPlane);
  }

  const sorted = [...totals].sort((a, b) => a - b);
  const percentile = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const p50Ms = percentile(50);
  const p99Ms = percentile(99);
  const phaseMedians = Object.fromEntries(
    Object.keys(phases[0]!).map((phase) => {
      const values = phases.map((entry) => entry[phase]!).sort((a, b) => a - b);
      return [phase, values[Math.floor(values.length / 2)]!];
    }),
  );
  process.stdout.write(
    `${JSON.stringify({
      bench: "converge",
      runs,
      replicas,
      nodes: 3,
      p50Ms,
      p99Ms,
      maxMs: sorted.at(-1),
      minMs: sorted[0],
      runsMs: totals,
      // Milliseconds after the commit (t0) at which each step had finished, median over the runs.
      phaseEndsMedianMs: phaseMedians,
      goalP50Ms,
      goalP99Ms,
      goalsMet: { p50: p50Ms <= goalP50Ms, p99: p99Ms <= goalP99Ms },
    })}\n`,
  );
} finally {
  await db?.end().catch(() => undefined);
  await controlPlane?.stop();
  for (const agent of agents) await agent.cleanup();
  await Promise.all(servers.map((sshd) => sshd.stop()));
  await repo?.cleanup();
  await dataDir?.cleanup();
}

// ---------------------------------------------------------------- helpers

function nodeManifest(sshd: SshdServer, index: number): string {
  return sshNodeManifest(`node-${index}`, sshd, { stateDir: agents[index]!.stateDir, agentCommand });
}

/** Every new pod starts ready (no probe), and a rollout surges all at once: the figure is sync to running. */
function deployment(version: string): string {
  return webDeployment({ version, replicas, rollingUpdate: { maxSurge: "100%", maxUnavailable: 0 }, readiness: "none" });
}

interface DeploymentState {
  done: boolean;
  liveSha: string | null;
  newPodsReadyInStore: number;
}

/** One cheap query: the Deployment's status against its generation, and how many of the commit's pods the store shows ready. */
async function deploymentState(pool: pg.Pool, sha = ""): Promise<DeploymentState> {
  const { rows } = await pool.query<{ status: Record<string, number>; generation: string; observed: string; live_sha: string | null; ready: string }>(
    `SELECT d.status, d.generation, d.observed_generation AS observed,
            (SELECT live_sha FROM sync_state WHERE id = 'default') AS live_sha,
            (SELECT count(*) FROM objects p WHERE p.kind = 'Pod' AND p.deleted_at IS NULL
               AND p.annotations->>$2 = $1 AND p.status->>'ready' = 'true') AS ready
     FROM objects d WHERE d.kind = 'Deployment' AND d.namespace = 'default' AND d.name = 'web' AND d.deleted_at IS NULL`,
    [sha, commitAnnotation],
  );
  const row = rows[0];
  if (!row) return { done: false, liveSha: null, newPodsReadyInStore: 0 };
  const status = row.status;
  const generation = Number(row.generation);
  // The controller writes observedGeneration both as the column and inside status.
  const observed = Math.max(Number(row.observed), typeof status.observedGeneration === "number" ? status.observedGeneration : 0);
  // status.replicas too (as `kubectl rollout status` and Kubernetes' DeploymentComplete): while old
  // pods are still active, updated = ready = available = 10 can hold with only some new pods ready.
  const done =
    observed === generation &&
    status.replicas === replicas &&
    status.updatedReplicas === replicas &&
    status.readyReplicas === replicas &&
    status.availableReplicas === replicas;
  return { done, liveSha: row.live_sha, newPodsReadyInStore: Number(row.ready) };
}

/**
 * When each step of the run had finished, in ms after t0, from what the
 * system recorded: the last of the 10 pods for per-pod steps.
 */
async function phaseBreakdown(pool: pg.Pool, sha: string, t0: number, marks: Record<string, number>, end: number): Promise<Record<string, number>> {
  const since = (at: number | Date | string | null | undefined): number => {
    if (at === null || at === undefined) return -1;
    const ms = typeof at === "number" ? at : new Date(at).getTime();
    return ms - t0;
  };
  const sync = await pool.query<{ last_fetch_at: Date }>("SELECT last_fetch_at FROM sync_state WHERE id = 'default'");
  const rs = await pool.query<{ created_at: Date }>(
    "SELECT created_at FROM objects WHERE kind = 'ReplicaSet' AND annotations->>$2 = $1 ORDER BY created_at LIMIT 1",
    [sha, commitAnnotation],
  );
  const pods = await pool.query<{ name: string; created_at: Date; status: PodStatusRow }>(
    "SELECT name, created_at, status FROM objects WHERE kind = 'Pod' AND deleted_at IS NULL AND annotations->>$2 = $1",
    [sha, commitAnnotation],
  );
  const names = pods.rows.map((pod) => pod.name);
  const scheduled = await pool.query<{ at: Date; first: Date }>(
    "SELECT max(last_time) AS at, min(last_time) AS first FROM events WHERE kind = 'Pod' AND reason = 'Scheduled' AND name = ANY($1::text[])",
    [names],
  );
  const oldDeleted = await pool.query<{ at: Date | null }>(
    "SELECT max(deleted_at) AS at FROM objects WHERE kind = 'Pod' AND deleted_at >= $1 AND (annotations->>$3) IS DISTINCT FROM $2",
    [new Date(t0), sha, commitAnnotation],
  );
  const latest = (values: (string | null | undefined)[]): number =>
    Math.max(...values.map((value) => (value ? new Date(value).getTime() : Number.NaN)).filter((value) => !Number.isNaN(value)));
  return {
    fetched: since(sync.rows[0]?.last_fetch_at),
    applied: since(applied.get(sha)),
    replicaSetCreated: since(rs.rows[0]?.created_at),
    firstPodCreated: since(Math.min(...pods.rows.map((pod) => pod.created_at.getTime()))),
    podsCreated: since(Math.max(...pods.rows.map((pod) => pod.created_at.getTime()))),
    firstPodBound: since(scheduled.rows[0]?.first),
    podsBound: since(scheduled.rows[0]?.at),
    agentAcceptedPods: since(latest(pods.rows.map((pod) => pod.status.startTime))),
    containersStarted: since(latest(pods.rows.map((pod) => pod.status.containerStatuses?.[0]?.state?.running?.startedAt))),
    readySeenByNodeLink: since(latest(pods.rows.map((pod) => pod.status.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime))),
    readyInStore: since(marks.allNewReadyInStore),
    oldPodsDeleted: since(oldDeleted.rows[0]?.at),
    deploymentStatusDone: end - t0,
  };
}

/** Every event since t0 and every object write's updated_at, in order: where a run's time went, step by step. */
async function printTimeline(pool: pg.Pool, t0: number): Promise<void> {
  const { rows } = await pool.query<{ at: Date; what: string }>(
    `SELECT last_time AS at, source || ': ' || reason || ' ' || kind || '/' || name || ' ' || left(message, 80) AS what
       FROM events WHERE last_time >= $1
     UNION ALL
     SELECT deleted_at, 'deleted ' || kind || '/' || name FROM objects WHERE deleted_at >= $1
     UNION ALL
     SELECT created_at, 'created ' || kind || '/' || name FROM objects WHERE created_at >= $1
     ORDER BY 1`,
    [new Date(t0)],
  );
  for (const row of rows) log(`  +${String(row.at.getTime() - t0).padStart(5)} ms  ${row.what}`);
}

interface PodStatusRow {
  startTime?: string;
  containerStatuses?: { state?: { running?: { startedAt?: string } } }[];
  conditions?: { type: string; lastTransitionTime?: string | null }[];
}

/** Until the store holds only the current 10 pods and the agents run exactly 10 pod processes. */
async function settle(pool: pg.Pool, plane: ControlPlane): Promise<void> {
  await waitFor(async () => {
    const live = await pool.query<{ n: string }>("SELECT count(*) AS n FROM objects WHERE kind = 'Pod' AND deleted_at IS NULL");
    if (Number(live.rows[0]!.n) !== replicas) return false;
    const reported = plane.nodes.podStatuses().reduce((sum, node) => sum + node.pods.length, 0);
    if (reported !== replicas) return false;
    let processes = 0;
    for (const agent of agents) {
      const id = await agentId(agent.stateDir);
      if (id) processes += (await processesOfAgent(id)).length;
    }
    return processes === replicas;
  }, 60_000);
  await sleep(300);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
