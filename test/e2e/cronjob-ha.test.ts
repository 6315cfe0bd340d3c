import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cronTestClockVariable } from "../../src/cron-test-clock.ts";
import { agentCommand, agentStateDir } from "../helpers/agent.ts";
import { startReplicas, type Replica, type ReplicaSet } from "../helpers/control-planes.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { requireSshd, sshNodeManifest, startSshd, type SshdServer } from "../helpers/sshd.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * Exactly once under failover: three `capstan up --replicas-share` processes
 * on one PostgreSQL, one real SSH node with the real capstan-agent, and a
 * `* * * * *` CronJob whose pods append "<job> <pod>" to a marker file. The
 * leader is SIGKILLed (then SIGSTOPped past its lease and resumed) again and
 * again while scheduled time runs through dozens of minutes; afterwards the
 * store and the marker file must show every scheduled minute run exactly
 * once: one Job, one pod, one marker line each, none missing, none extra.
 *
 * Scheduled time runs fast through the control planes' test hook
 * (CAPSTAN_TEST_CRON_CLOCK_OFFSET_FILE, src/cron-test-clock.ts): the test
 * moves the CronJob controllers' clock to a second before the next minute
 * every `stepMs` of real time, while everything else (heartbeats, eviction,
 * the lease) keeps real time. A takeover takes about 4 s of real time, i.e.
 * two or three scheduled minutes, so the CronJob catches up every missed
 * run (`capstan.dev/missed-runs: all`) within a 10-minute starting deadline:
 * a miss is a run that never started although it was due within it.
 */

const database = useTestDatabase();
/** Real time per scheduled minute. */
const stepMs = 2_000;
/** Each step puts scheduled time this far before the next minute, so the controller's own wake-up timer starts the run. */
const leadMs = 1_000;
const minuteMs = 60_000;
const cronJobName = "mark";

let sshd: SshdServer | undefined;
let agent: { stateDir: string; cleanup(): Promise<void> } | undefined;
let work: { path: string; cleanup(): Promise<void> } | undefined;
let repo: TestRepo | undefined;
let replicas: ReplicaSet | undefined;
let clock: ScheduledClock;
let markerFile: string;
let cronJobCreatedAt: number;

/** The test's side of the hook: writes the offset file every replica reads. */
class ScheduledClock {
  /** Each offset written, from the real time it was written: to tell when (in scheduled time) a Job was created. */
  readonly history: { fromMs: number; offsetMs: number }[] = [{ fromMs: 0, offsetMs: 0 }];

  constructor(readonly file: string) {}

  get offsetMs(): number {
    return this.history.at(-1)!.offsetMs;
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Scheduled time at a past real time. */
  at(realMs: number): number {
    return realMs + this.history.findLast((entry) => entry.fromMs <= realMs)!.offsetMs;
  }

  async write(offsetMs: number): Promise<void> {
    // Renamed into place: a replica never reads a half-written number.
    await writeFile(`${this.file}.tmp`, `${offsetMs}\n`);
    await rename(`${this.file}.tmp`, this.file);
    this.history.push({ fromMs: Date.now(), offsetMs });
  }

  /** Moves scheduled time forward to `leadMs` before the next minute not yet reached; resolves with that minute. */
  async stepToNextMinute(): Promise<number> {
    const minute = Math.ceil((this.now() + leadMs) / minuteMs) * minuteMs;
    await this.write(Math.max(this.offsetMs, minute - leadMs - Date.now()));
    return minute;
  }
}

/** Steps scheduled time `count` minutes forward, one every `stepMs`. */
function stepMinutes(count: number): { done(): boolean; finished: Promise<number[]> } {
  let done = false;
  const finished = (async () => {
    const minutes: number[] = [];
    for (let step = 0; step < count; step++) {
      const started = Date.now();
      minutes.push(await clock.stepToNextMinute());
      await sleep(stepMs - (Date.now() - started));
    }
    done = true;
    return minutes;
  })();
  return { done: () => done, finished };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

const jobNameOf = (minute: number) => `${cronJobName}-${minute / minuteMs}`;

const cronJobManifest = (markers: string) => `apiVersion: batch/v1
kind: CronJob
metadata:
  name: ${cronJobName}
  annotations:
    capstan.dev/missed-runs: all
spec:
  schedule: "* * * * *"
  timeZone: UTC
  startingDeadlineSeconds: 600
  # Every Job is kept, so the store can be checked for duplicates afterwards.
  successfulJobsHistoryLimit: 1000
  failedJobsHistoryLimit: 1000
  jobTemplate:
    spec:
      # A failed pod is not retried: a second pod for one scheduled time would be a duplicate run.
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
            - name: mark
              command: ["/bin/sh", "-c", 'echo "$JOB $POD" >> ${markers}']
              env:
                - name: JOB
                  valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } }
                - name: POD
                  valueFrom: { fieldRef: { fieldPath: metadata.name } }
`;

interface JobRow {
  uid: string;
  name: string;
  annotations: Record<string, string>;
  status: { conditions?: { type: string; status: string }[] };
  created_at: Date;
  deleted_at: Date | null;
}
interface PodRow {
  name: string;
  owner_uid: string;
  status: { phase?: string };
  deleted_at: Date | null;
}

/** Every Job of the CronJob and every pod of those Jobs, soft-deleted ones included: a duplicate cannot hide. */
async function storedRuns(): Promise<{ jobs: JobRow[]; pods: PodRow[] }> {
  const { pool } = database();
  const jobs = await pool.query<JobRow>(
    `SELECT j.uid, j.name, j.annotations, j.status, j.created_at, j.deleted_at FROM objects j
       JOIN objects c ON c.uid = j.owner_uid AND c.kind = 'CronJob' AND c.name = $1
      WHERE j.kind = 'Job' ORDER BY j.name`,
    [cronJobName],
  );
  const pods = await pool.query<PodRow>("SELECT name, owner_uid, status, deleted_at FROM objects WHERE kind = 'Pod' AND owner_uid = ANY($1::uuid[])", [
    jobs.rows.map((job) => job.uid),
  ]);
  return { jobs: jobs.rows, pods: pods.rows };
}

/** Scheduled minutes in (createdAt, until], as dueRuns counts them. */
function minutesBetween(createdAt: number, until: number): number[] {
  const minutes: number[] = [];
  for (let minute = Math.floor(createdAt / minuteMs) * minuteMs + minuteMs; minute <= until; minute += minuteMs) minutes.push(minute);
  return minutes;
}

async function markerLines(): Promise<string[]> {
  return (await readFile(markerFile, "utf8").catch(() => "")).split("\n").filter((line) => line !== "");
}

/**
 * Waits until every minute due so far has a complete Job and the CronJob's
 * status has caught up, then checks exactly once from the store and from the
 * marker file. Returns the minutes covered and how late (in scheduled time)
 * each Job was created.
 */
async function expectEveryRunExactlyOnce(): Promise<{ minutes: number[]; lateMs: number[] }> {
  // The last step's minute is due `leadMs` after it: let it come, or it could be counted before its Job exists.
  await sleep(leadMs + 500);
  let expected: number[] = [];
  const deadline = Date.now() + 45_000;
  for (;;) {
    expected = minutesBetween(cronJobCreatedAt, Math.floor(clock.now() / minuteMs) * minuteMs);
    const { jobs } = await storedRuns();
    const { rows } = await database().pool.query<{ status: { lastScheduleTime?: string; active?: unknown[] } }>(
      "SELECT status FROM objects WHERE kind = 'CronJob' AND name = $1 AND deleted_at IS NULL",
      [cronJobName],
    );
    const status = rows[0]?.status;
    const complete = (job: JobRow) => (job.status.conditions ?? []).some((c) => c.type === "Complete" && c.status === "True");
    const finished = (job: JobRow) => (job.status.conditions ?? []).some((c) => ["Complete", "Failed"].includes(c.type) && c.status === "True");
    // Settled: the controller has scheduled up to the last minute due and every Job it made has ended and
    // marked; whether those are the right Jobs is checked below, so that a miss fails naming the minute.
    const settled =
      jobs.every(finished) &&
      status?.lastScheduleTime === new Date(expected.at(-1)!).toISOString() &&
      status.active?.length === 0 &&
      (await markerLines()).length >= jobs.length;
    if (settled) {
      expect(jobs.filter((job) => !complete(job)).map((job) => job.name)).toEqual([]);
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(`runs did not settle: expected ${expected.length} Jobs, have ${jobs.map((j) => `${j.name}:${finished(j)}`).join(" ")}; CronJob status ${JSON.stringify(status)}`);
    }
    await sleep(250);
  }

  const { jobs, pods } = await storedRuns();
  const expectedNames = expected.map(jobNameOf);
  // The store: one Job per scheduled minute (none deleted and made again), each with its scheduled time and one pod.
  expect(jobs.map((job) => job.name)).toEqual(expectedNames);
  expect(jobs.filter((job) => job.deleted_at !== null)).toEqual([]);
  for (const [index, job] of jobs.entries()) {
    expect(job.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]).toBe(new Date(expected[index]!).toISOString());
  }
  const podsByJob = new Map<string, PodRow[]>();
  for (const pod of pods) podsByJob.set(pod.owner_uid, [...(podsByJob.get(pod.owner_uid) ?? []), pod]);
  const podCounts = jobs.map((job) => `${job.name}:${podsByJob.get(job.uid)?.length ?? 0}`);
  expect(podCounts).toEqual(expectedNames.map((name) => `${name}:1`));
  expect(pods.filter((pod) => pod.deleted_at !== null || pod.status.phase !== "Succeeded").map((pod) => pod.name)).toEqual([]);

  // The marker file: each scheduled minute's pod wrote exactly one line, and it is the pod the store knows.
  const lines = await markerLines();
  const byJob = new Map<string, string[]>();
  for (const line of lines) {
    const [job, pod] = line.split(" ");
    byJob.set(job!, [...(byJob.get(job!) ?? []), pod!]);
  }
  expect([...byJob.keys()].sort()).toEqual(expectedNames);
  const duplicates = [...byJob].filter(([, podNames]) => podNames.length !== 1);
  expect(duplicates).toEqual([]);
  for (const job of jobs) expect(byJob.get(job.name)).toEqual([podsByJob.get(job.uid)![0]!.name]);
  expect(lines).toHaveLength(expected.length);

  const lateMs = jobs.map((job, index) => clock.at(job.created_at.getTime()) - expected[index]!);
  return { minutes: expected, lateMs };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

beforeAll(async () => {
  requireSshd();
  work = await tempDir("capstan-e2e-cron-ha-");
  markerFile = join(work.path, "markers");
  clock = new ScheduledClock(join(work.path, "cron-clock-offset"));
  await clock.write(0);
  sshd = await startSshd({ address: "127.0.0.31" });
  agent = await agentStateDir();
  repo = await createRepo();
  await repo.writeAll({
    "node.yaml": sshNodeManifest("node-0", sshd, { stateDir: agent.stateDir, agentCommand }),
    "cronjob.yaml": cronJobManifest(markerFile),
  });
  await repo.commit("a node and a CronJob that marks each run");
  replicas = await startReplicas(3, {
    databaseUrl: database().url,
    repo: repo.dir,
    args: ["--poll-interval", "30"],
    env: { [cronTestClockVariable]: clock.file, CAPSTAN_LOG_LEVEL: "warn" },
  });
  await replicas.agreedLeader(20_000);
  await waitFor(
    "the node Ready and the CronJob stored",
    async () => {
      const { rows } = await database().pool.query<{ kind: string; status: { conditions?: { type: string; status: string }[] }; created_at: Date }>(
        "SELECT kind, status, created_at FROM objects WHERE kind IN ('Node', 'CronJob') AND deleted_at IS NULL",
      );
      const node = rows.find((row) => row.kind === "Node");
      const cronJob = rows.find((row) => row.kind === "CronJob");
      if (cronJob) cronJobCreatedAt = cronJob.created_at.getTime();
      return Boolean(cronJob && node?.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    },
    30_000,
  );
}, 120_000);

afterAll(async () => {
  await replicas?.stopAll();
  await agent?.cleanup();
  await sshd?.stop();
  await repo?.cleanup();
  await work?.cleanup();
}, 60_000);

describe("a CronJob under a failing-over control plane", () => {
  it("starts every scheduled time exactly once while the leader is SIGKILLed again and again", async () => {
    const set = replicas!;
    const stepping = stepMinutes(26);
    const takeoversMs: number[] = [];
    let adding: Promise<Replica> | undefined;
    await sleep(3_000);
    while (!stepping.done()) {
      // 2-3 replicas alive at each kill: the one started after the last kill is up first.
      await adding;
      const leader = await set.agreedLeader(15_000);
      if (stepping.done()) break;
      const killedAt = Date.now();
      await leader.cli.stop("SIGKILL");
      const next = await set.firstLeader(15_000);
      takeoversMs.push(Date.now() - killedAt);
      expect(next).not.toBe(leader);
      adding = set.add();
      await sleep(2_500);
    }
    await adding;
    await stepping.finished;

    const { minutes, lateMs } = await expectEveryRunExactlyOnce();
    process.stderr.write(
      `cronjob-ha SIGKILL: ${minutes.length} scheduled times, each run once; ${takeoversMs.length} kills, takeover ms ${takeoversMs.join(" ")}; ` +
        `Job created after its minute (scheduled s): max ${Math.max(...lateMs) / 1000}, ${lateMs.filter((ms) => ms > minuteMs).length} caught up later than a minute\n`,
    );
    expect(minutes.length).toBeGreaterThanOrEqual(20);
    expect(takeoversMs.length).toBeGreaterThanOrEqual(4);
    // By design at most the 4 s lease plus a follower's 1 s retry; a second more for polling on two shared cores.
    for (const ms of takeoversMs) expect(ms).toBeLessThan(6_000);
  }, 150_000);

  it("a leader SIGSTOPped past its lease and resumed starts no second Job or pod for any scheduled time", async () => {
    const set = replicas!;
    const stepping = stepMinutes(10);
    const fenced: number[] = [];
    for (let round = 0; round < 2; round++) {
      await sleep(1_500);
      const old = await set.agreedLeader(15_000);
      const oldToken = (await old.leadership())!.leader!.token!;
      old.cli.child.kill("SIGSTOP");
      const next = await set.agreedLeader(15_000, set.alive().filter((replica) => replica !== old));
      expect((await next.leadership())!.leader!.token).toBeGreaterThan(oldToken);
      old.cli.child.kill("SIGCONT");
      await waitFor("the resumed leader to follow", async () => (await old.leadership())?.role === "follower", 15_000);
      fenced.push((await old.leadership())!.fencedWrites);
    }
    await stepping.finished;

    const { minutes } = await expectEveryRunExactlyOnce();
    process.stderr.write(`cronjob-ha SIGSTOP: ${minutes.length} scheduled times in all, each run once; writes refused per resumed leader: ${fenced.join(" ")}\n`);
  }, 120_000);
});
