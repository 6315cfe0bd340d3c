import { describe, expect, it } from "vitest";
import { cronJobKind, type CronJobSpec, type StoredObject } from "../../src/desired/index.ts";
import { jobNameFor, planCronJob, scheduledTimestampAnnotation, type CronJobPlan } from "../../src/reconcilers/cronjob-plan.ts";
import { storedObject } from "../helpers/stored-object.ts";

const minute = 60_000;
const t0 = Date.parse("2026-05-01T12:00:00Z");
const at = (minutes: number, seconds = 0) => new Date(t0 + minutes * minute + seconds * 1000);

function cronJob(spec: Record<string, unknown>, status: Record<string, unknown> = {}, annotations: Record<string, string> = {}): StoredObject {
  const manifest = cronJobKind.schema.parse({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: "report" },
    spec: {
      schedule: "* * * * *",
      timeZone: "UTC",
      jobTemplate: { metadata: { labels: { app: "report" } }, spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "r", command: ["/bin/true"] }] } } } },
      ...spec,
    },
  });
  return storedObject({ kind: "CronJob", apiVersion: "batch/v1", name: "report", spec: cronJobKind.specOf(manifest) as CronJobSpec, status, annotations, createdAt: at(-60) });
}

/** A Job the CronJob made for the run at `minutes`, with its outcome. */
function job(minutes: number, outcome: "Running" | "Complete" | "Failed" = "Running"): StoredObject {
  const conditions = outcome === "Running" ? [] : [{ type: outcome, status: "True", lastTransitionTime: at(minutes, 30).toISOString() }];
  return storedObject({
    kind: "Job",
    apiVersion: "batch/v1",
    name: jobNameFor("report", at(minutes)),
    ownerUid: "uid-cronjob-report",
    annotations: { [scheduledTimestampAnnotation]: at(minutes).toISOString() },
    status: { conditions, ...(outcome === "Complete" ? { completionTime: at(minutes, 30).toISOString() } : {}) },
    createdAt: at(minutes),
  });
}

const lastAt = (minutes: number) => ({ lastScheduleTime: at(minutes).toISOString() });
const summary = (plan: CronJobPlan) => ({
  creates: plan.actions.flatMap((a) => (a.type === "createJob" ? [a.name] : [])),
  deletes: plan.actions.flatMap((a) => (a.type === "deleteJob" ? [`${a.name}:${a.reason}`] : [])),
  events: plan.events.map((e) => e.reason),
  lastScheduleTime: plan.status.lastScheduleTime,
});
const nameAt = (minutes: number) => jobNameFor("report", at(minutes));

describe("planCronJob", () => {
  const cases: { name: string; cronJob: StoredObject; jobs: StoredObject[]; now: Date; expect: Partial<ReturnType<typeof summary>> }[] = [
    { name: "due: creates the run's Job", cronJob: cronJob({}, lastAt(0)), jobs: [], now: at(1, 2), expect: { creates: [nameAt(1)], lastScheduleTime: at(1).toISOString() } },
    { name: "not due: nothing", cronJob: cronJob({}, lastAt(1)), jobs: [], now: at(1, 50), expect: { creates: [], events: [] } },
    { name: "Allow: a new run beside a running one", cronJob: cronJob({ concurrencyPolicy: "Allow" }, lastAt(0)), jobs: [job(0)], now: at(1), expect: { creates: [nameAt(1)], deletes: [] } },
    {
      name: "Forbid: no new run while one runs, and the time is not recorded as scheduled",
      cronJob: cronJob({ concurrencyPolicy: "Forbid" }, lastAt(0)),
      jobs: [job(0)],
      now: at(1),
      expect: { creates: [], events: ["JobAlreadyActive"], lastScheduleTime: at(0).toISOString() },
    },
    {
      name: "Forbid: once the running one ended, the latest unmet run starts",
      cronJob: cronJob({ concurrencyPolicy: "Forbid" }, lastAt(0)),
      jobs: [job(0, "Complete")],
      now: at(3, 10),
      expect: { creates: [nameAt(3)] },
    },
    {
      name: "Forbid with missed-runs all: one at a time, oldest first",
      cronJob: cronJob({ concurrencyPolicy: "Forbid" }, lastAt(0), { "capstan.dev/missed-runs": "all" }),
      jobs: [],
      now: at(3, 10),
      expect: { creates: [nameAt(1)], lastScheduleTime: at(1).toISOString() },
    },
    {
      name: "Replace: the running Job is deleted and the new one created",
      cronJob: cronJob({ concurrencyPolicy: "Replace" }, lastAt(0)),
      jobs: [job(0)],
      now: at(1),
      expect: { creates: [nameAt(1)], deletes: [`${nameAt(0)}:Replace`] },
    },
    { name: "Replace: nothing due, nothing replaced", cronJob: cronJob({ concurrencyPolicy: "Replace" }, lastAt(1)), jobs: [job(1)], now: at(1, 30), expect: { creates: [], deletes: [] } },
    {
      name: "Allow with missed-runs all: every missed run",
      cronJob: cronJob({}, lastAt(0), { "capstan.dev/missed-runs": "all" }),
      jobs: [],
      now: at(3, 10),
      expect: { creates: [nameAt(1), nameAt(2), nameAt(3)], lastScheduleTime: at(3).toISOString() },
    },
    { name: "the run's Job already exists (a pass whose status write was lost): not created again", cronJob: cronJob({}, lastAt(0)), jobs: [job(1)], now: at(1, 5), expect: { creates: [], lastScheduleTime: at(1).toISOString() } },
    { name: "startingDeadlineSeconds passed: missed, nothing created", cronJob: cronJob({ startingDeadlineSeconds: 30 }, lastAt(0)), jobs: [], now: at(1, 45), expect: { creates: [] } },
    { name: "within startingDeadlineSeconds: created late", cronJob: cronJob({ startingDeadlineSeconds: 60 }, lastAt(0)), jobs: [], now: at(1, 45), expect: { creates: [nameAt(1)] } },
    { name: "skip policy: a late run is dropped with an event", cronJob: cronJob({ schedule: "*/5 * * * *" }, lastAt(0), { "capstan.dev/missed-runs": "skip" }), jobs: [], now: at(7), expect: { creates: [], events: ["MissSchedule"] } },
    {
      name: "a long outage: TooManyMissedTimes, and the latest still runs",
      cronJob: cronJob({}, lastAt(-3 * 24 * 60)),
      jobs: [],
      now: at(0, 5),
      expect: { creates: [nameAt(0)], events: ["TooManyMissedTimes"] },
    },
    { name: "suspended: nothing runs", cronJob: cronJob({ suspend: true }, lastAt(0)), jobs: [], now: at(5), expect: { creates: [], deletes: [] } },
    {
      name: "history: successful Jobs beyond 3 and failed beyond 1 go, oldest first",
      cronJob: cronJob({}, lastAt(10)),
      jobs: [job(1, "Complete"), job(2, "Failed"), job(3, "Complete"), job(4, "Complete"), job(5, "Failed"), job(6, "Complete"), job(7, "Failed"), job(10)],
      now: at(10, 30),
      expect: { creates: [], deletes: [`${nameAt(1)}:HistoryLimit`, `${nameAt(5)}:HistoryLimit`, `${nameAt(2)}:HistoryLimit`] },
    },
    {
      name: "history limits of 0 delete every finished Job, never a running one",
      cronJob: cronJob({ successfulJobsHistoryLimit: 0, failedJobsHistoryLimit: 0 }, lastAt(3)),
      jobs: [job(1, "Complete"), job(2, "Failed"), job(3)],
      now: at(3, 30),
      expect: { deletes: [`${nameAt(1)}:HistoryLimit`, `${nameAt(2)}:HistoryLimit`] },
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      expect(summary(planCronJob({ cronJob: testCase.cronJob, jobs: testCase.jobs, now: testCase.now }))).toMatchObject(testCase.expect);
    });
  }

  it("makes the Job from the template, annotated with its scheduled time", () => {
    const plan = planCronJob({ cronJob: cronJob({}, lastAt(0)), jobs: [], now: at(1, 2) });
    expect(plan.actions[0]).toMatchObject({
      type: "createJob",
      name: `report-${Math.floor(at(1).getTime() / minute)}`,
      labels: { app: "report" },
      annotations: { [scheduledTimestampAnnotation]: at(1).toISOString() },
      spec: { backoffLimit: 6, completions: 1, parallelism: 1 },
    });
  });

  it("status: active Jobs, last schedule and success, next time, last run's outcome; requeued for the next time", () => {
    const plan = planCronJob({ cronJob: cronJob({}, lastAt(1)), jobs: [job(0, "Complete"), job(1, "Failed")], now: at(1, 40) });
    expect(plan.status).toEqual({
      active: [],
      lastScheduleTime: at(1).toISOString(),
      lastSuccessfulTime: at(0, 30).toISOString(),
      nextScheduleTime: at(2).toISOString(),
      lastRun: { job: nameAt(1), scheduledTime: at(1).toISOString(), outcome: "Failed" },
      health: "Degraded",
    });
    expect(plan.requeueAfterMs).toBe(20_000 + 100);
  });

  it("status right after creating: the new Job is active and the last run", () => {
    const plan = planCronJob({ cronJob: cronJob({}, lastAt(0)), jobs: [job(0)], now: at(1) });
    expect(plan.status.active).toEqual([{ name: nameAt(0) }, { name: nameAt(1) }]);
    expect(plan.status.lastRun).toEqual({ job: nameAt(1), scheduledTime: at(1).toISOString(), outcome: "Running" });
    expect(plan.status.health).toBe("Healthy");
  });

  it("a run last seen active that ended is reported once: Warning SawCompletedJob when it failed, Normal when it completed", () => {
    const status = { ...lastAt(1), active: [{ name: nameAt(0) }, { name: nameAt(1) }] };
    const plan = planCronJob({ cronJob: cronJob({ concurrencyPolicy: "Allow" }, status), jobs: [job(0, "Failed"), job(1, "Complete")], now: at(1, 40) });
    expect(plan.events).toEqual([
      { type: "Warning", reason: "SawCompletedJob", message: `Saw completed job: ${nameAt(0)}, status: Failed` },
      { type: "Normal", reason: "SawCompletedJob", message: `Saw completed job: ${nameAt(1)}, status: Complete` },
    ]);
    // The next pass sees them no longer active: nothing again.
    const again = planCronJob({ cronJob: cronJob({ concurrencyPolicy: "Allow" }, { ...lastAt(1), active: plan.status.active }), jobs: [job(0, "Failed"), job(1, "Complete")], now: at(1, 50) });
    expect(again.events).toEqual([]);
  });

  it("suspended: Suspended, no next time, not requeued", () => {
    const plan = planCronJob({ cronJob: cronJob({ suspend: true }, lastAt(0)), jobs: [], now: at(5) });
    expect(plan.status).toMatchObject({ health: "Suspended", nextScheduleTime: null });
    expect(plan.requeueAfterMs).toBeUndefined();
  });
});
