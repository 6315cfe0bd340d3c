import { describe, expect, it } from "vitest";
import { cronJobTable, jobTable } from "../../src/cli/jobs.ts";
import { MemoryDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, jobListSchema, statusSchema } from "../../src/status/index.ts";

/** GET /api/jobs and the jobs of /api/status: a CronJob's last run, outcome and next run; a Job's progress and outcome. */

async function seed(): Promise<MemoryDesiredStore> {
  const store = new MemoryDesiredStore();
  const cronJob = await store.createObject({
    apiVersion: "batch/v1",
    kind: "CronJob",
    namespace: "default",
    name: "report",
    spec: { schedule: "*/5 * * * *", timeZone: "Europe/Berlin", suspend: false },
    status: {
      active: [],
      lastScheduleTime: "2026-05-01T12:05:00.000Z",
      lastSuccessfulTime: "2026-05-01T12:00:40.000Z",
      nextScheduleTime: "2026-05-01T12:10:00.000Z",
      lastRun: { job: "report-29627405", scheduledTime: "2026-05-01T12:05:00.000Z", outcome: "Failed" },
      health: "Degraded",
    },
  });
  await store.createObject({
    apiVersion: "batch/v1",
    kind: "Job",
    namespace: "default",
    name: "report-29627405",
    ownerUid: cronJob.uid,
    spec: { completions: 1, parallelism: 1 },
    status: {
      active: 0,
      succeeded: 0,
      failed: 7,
      startTime: "2026-05-01T12:05:01.000Z",
      completionTime: null,
      conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }],
      health: "Degraded",
    },
  });
  await store.createObject({
    apiVersion: "batch/v1",
    kind: "Job",
    namespace: "default",
    name: "migrate",
    spec: { parallelism: 2 },
    status: { active: 2, succeeded: 0, failed: 0, startTime: "2026-05-01T12:00:00.000Z", conditions: [], health: "Progressing" },
  });
  return store;
}

async function get(store: MemoryDesiredStore, path: string): Promise<unknown> {
  const response = await createStatusApp({ store, log: silentLogger, storeReachable: async () => true }).request(path);
  expect(response.status).toBe(200);
  return response.json();
}

describe("jobs in the API", () => {
  it("lists CronJobs with last run, outcome and next run, and Jobs with their outcome and maker", async () => {
    const list = jobListSchema.parse(await get(await seed(), "/api/jobs"));
    expect(list.cronJobs).toEqual([
      {
        namespace: "default",
        name: "report",
        schedule: "*/5 * * * *",
        timeZone: "Europe/Berlin",
        suspend: false,
        active: 0,
        lastScheduleTime: "2026-05-01T12:05:00.000Z",
        lastSuccessfulTime: "2026-05-01T12:00:40.000Z",
        lastRun: { job: "report-29627405", scheduledTime: "2026-05-01T12:05:00.000Z", outcome: "Failed" },
        nextScheduleTime: "2026-05-01T12:10:00.000Z",
        health: "Degraded",
      },
    ]);
    const byName = new Map(list.jobs.map((job) => [job.name, job]));
    expect(byName.get("report-29627405")).toMatchObject({ cronJob: "report", completions: "0/1", failed: 7, outcome: "Failed: BackoffLimitExceeded" });
    expect(byName.get("migrate")).toMatchObject({ cronJob: null, completions: "0", active: 2, outcome: "pending" });
  });

  it("/api/status carries the same lists", async () => {
    const status = statusSchema.parse(await get(await seed(), "/api/status"));
    expect(status.cronJobs.map((cronJob) => cronJob.name)).toEqual(["report"]);
    expect(status.jobs.map((job) => job.name).sort()).toEqual(["migrate", "report-29627405"]);
  });

  it("a status from a control plane without jobs still parses", () => {
    expect(statusSchema.parse({ revision: null, sync: null, workloads: [], nodes: [] })).toMatchObject({ jobs: [], cronJobs: [] });
  });

  it("prints tables for `capstan jobs` and `capstan status`", async () => {
    const list = jobListSchema.parse(await get(await seed(), "/api/jobs"));
    const cronJobs = cronJobTable(list.cronJobs);
    expect(cronJobs.split("\n")[0]).toMatch(/^CRONJOB\s+SCHEDULE\s+SUSPEND\s+ACTIVE\s+LAST RUN\s+OUTCOME\s+NEXT RUN\s+HEALTH$/);
    expect(cronJobs).toContain("2026-05-01T12:05:00Z report-29627405  Failed");
    expect(cronJobs).toContain("2026-05-01T12:10:00Z");
    const jobs = jobTable(list.jobs, new Date("2026-05-01T12:03:00Z"));
    expect(jobs).toMatch(/default\/migrate\s+-\s+0\s+2\s+0\s+pending\s+2026-05-01T12:00:00Z\s+3m0s/);
  });
});
