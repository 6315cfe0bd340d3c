/**
 * CronJob fire delay: from a run's scheduled time until its pod is Running
 * on a node, over N runs (BENCH_RUNS, default 30, as the tracker asks), p50 and p99. Goal: p99
 * ≤ 1 s (the project's "a change is acted on within a second").
 *
 * Everything is real except the wait for the minute: `startControlPlane`
 * (embedded PostgreSQL unless DATABASE_URL is set), one sshd node on
 * 127.0.0.9 with the real capstan-agent, real processes, a CronJob
 * `* * * * *` whose pod sleeps one second. The control plane runs on the
 * system clock plus an offset; before each run the offset is pushed to one
 * second before the next whole minute and the CronJob is enqueued, standing
 * in for the wake-up timer it would have set for that minute had the time
 * really passed (a timer set before the jump still counts real time). From
 * there the real path runs: the reconcile a second early finds nothing due
 * and asks to be woken at the minute (+100 ms, Kubernetes' nextScheduleDelta,
 * included in the figure), creates the Job, the Job controller the pod, the
 * scheduler binds it, the node link ships it, the agent starts the process
 * and reports it Running. "Running" is seen by polling the store every 10 ms
 * on the shifted clock, so it is the moment the status is stored. Run 0 is a
 * warm-up (and may fire for a minute passed while the CronJob was stored)
 * and is not counted; each run waits for its Job to complete.
 *
 * Prints one JSON line.
 */
import pg from "pg";
import { loadUpConfig } from "../src/config.ts";
import { startControlPlane, type ControlPlane } from "../src/controlplane.ts";
import { silentLogger } from "../src/logging.ts";
import { agentCommand, agentStateDir } from "../test/helpers/agent.ts";
import { createRepo, tempDir, type TestRepo } from "../test/helpers/git-fixture.ts";
import { OffsetClock } from "../test/helpers/offset-clock.ts";
import { requireSshd, startSshd, type SshdServer, sshNodeManifest } from "../test/helpers/sshd.ts";

const runs = Number(process.env.BENCH_RUNS ?? 30);
const goalP99Ms = 1_000;
const log = (message: string): void => void process.stderr.write(`[cronjob] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const key = { kind: "CronJob", namespace: "default", name: "tick" };

const cronJob = `apiVersion: batch/v1
kind: CronJob
metadata: { name: tick }
spec:
  schedule: "* * * * *"
  timeZone: UTC
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{ name: tick, command: ["${process.execPath}", "-e", "setTimeout(() => {}, 1000)"] }]
`;

const clock = new OffsetClock();
let sshd: SshdServer | undefined;
let agent: { stateDir: string; cleanup(): Promise<void> } | undefined;
let repo: TestRepo | undefined;
let dataDir: { path: string; cleanup(): Promise<void> } | undefined;
let controlPlane: ControlPlane | undefined;
let db: pg.Pool | undefined;

/** The Job's and its pod's state, from the store. */
async function runState(pool: pg.Pool, job: string): Promise<{ jobCreatedAt: number | null; podPhase: string | null; complete: boolean }> {
  const jobs = await pool.query<{ uid: string; created_at: Date; status: { conditions?: { type: string; status: string }[] } }>(
    "SELECT uid, created_at, status FROM objects WHERE kind = 'Job' AND namespace = 'default' AND name = $1 AND deleted_at IS NULL",
    [job],
  );
  const row = jobs.rows[0];
  if (!row) return { jobCreatedAt: null, podPhase: null, complete: false };
  const pods = await pool.query<{ status: { phase?: string } }>("SELECT status FROM objects WHERE kind = 'Pod' AND owner_uid = $1 AND deleted_at IS NULL", [row.uid]);
  return {
    jobCreatedAt: row.created_at.getTime(),
    podPhase: pods.rows[0]?.status.phase ?? null,
    complete: (row.status.conditions ?? []).some((condition) => condition.type === "Complete" && condition.status === "True"),
  };
}

try {
  requireSshd();
  sshd = await startSshd({ address: "127.0.0.9" });
  agent = await agentStateDir();
  repo = await createRepo();
  dataDir = await tempDir("capstan-bench-cronjob-");
  await repo.writeAll({ "node.yaml": sshNodeManifest("node-0", sshd, { stateDir: agent.stateDir, agentCommand }), "tick.yaml": cronJob });
  await repo.commit("a node and a CronJob");
  const env: Record<string, string> = process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {};
  controlPlane = await startControlPlane(loadUpConfig({ repo: repo.dir, dataDir: dataDir.path, port: "0", pollIntervalSeconds: "3600" }, env), silentLogger, clock);
  db = new pg.Pool({ connectionString: controlPlane.databaseUrl, max: 2 });

  const toRunning: number[] = [];
  const toJob: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const due = clock.jumpToBeforeNextMinute(1_000);
    controlPlane.controllers.enqueue("CronJob", key);
    const job = `tick-${due.getTime() / 60_000}`;
    let jobAt: number | null = null;
    let runningAt: number | null = null;
    for (;;) {
      const state = await runState(db, job);
      if (state.jobCreatedAt !== null) jobAt ??= state.jobCreatedAt + clock.offsetMs;
      if (runningAt === null && (state.podPhase === "Running" || state.podPhase === "Succeeded")) runningAt = clock.now().getTime();
      if (state.complete) break;
      if (clock.now().getTime() - due.getTime() > 60_000) throw new Error(`run ${run}: ${job} not complete after 60 s: ${JSON.stringify(state)}`);
      await sleep(10);
    }
    const delay = runningAt! - due.getTime();
    log(`run ${run}${run === 0 ? " (warm-up)" : ""}: Job created ${jobAt! - due.getTime()} ms, pod Running ${delay} ms after the scheduled minute`);
    if (run === 0) continue;
    toRunning.push(delay);
    toJob.push(jobAt! - due.getTime());
  }

  const percentile = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  };
  const p99Ms = percentile(toRunning, 99);
  process.stdout.write(
    `${JSON.stringify({
      bench: "cronjob",
      runs,
      p50Ms: percentile(toRunning, 50),
      p99Ms,
      jobCreatedP50Ms: percentile(toJob, 50),
      jobCreatedP99Ms: percentile(toJob, 99),
      goalP99Ms,
      ok: p99Ms <= goalP99Ms,
    })}\n`,
  );
} finally {
  await db?.end();
  await controlPlane?.stop();
  await agent?.cleanup();
  await sshd?.stop();
  await repo?.cleanup();
  await dataDir?.cleanup();
}
