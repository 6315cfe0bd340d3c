import { z } from "zod";
import type { CronJobSpec, JobSpec, StoredObject } from "../desired/index.ts";
import { dueRuns } from "./cron-schedule.ts";
import { healthStates } from "./health.ts";
import type { EventInput } from "./types.ts";

/**
 * The CronJob controller's decisions, pure (house style 3). Kubernetes'
 * cronjob_controllerv2 (syncCronJob): which Jobs to create for the due runs
 * (dueRuns), which to delete (Replace, history limits), and the status.
 *
 * Exactly once: a run's Job is named `<cronjob>-<scheduled time in unix
 * minutes>`, so a run is started at most once however many passes (or
 * control planes) decide it: the store refuses a second object of that name,
 * and a Job of that name already owned counts as started.
 */

export const scheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/** Kubernetes' nextScheduleDelta: wake a little after the due time, so that a timer firing early still finds the run due. */
export const wakeDelayMs = 100;

const jobOutcomeSchema = z.enum(["Running", "Complete", "Failed"]);
export type JobOutcome = z.infer<typeof jobOutcomeSchema>;

export const cronJobStatusSchema = z.object({
  /** The running Jobs, by name. */
  active: z.array(z.object({ name: z.string() })),
  lastScheduleTime: z.string().nullable(),
  lastSuccessfulTime: z.string().nullable(),
  /** capstan's addition, for `capstan jobs` and the page: null while suspended or when it never fires again. */
  nextScheduleTime: z.string().nullable(),
  /** The newest run's Job and how it is going. */
  lastRun: z.object({ job: z.string(), scheduledTime: z.string(), outcome: jobOutcomeSchema }).nullable(),
  health: z.enum(healthStates),
});
export type CronJobStatus = z.infer<typeof cronJobStatusSchema>;

const previousSchema = z.object({
  active: z.array(z.object({ name: z.string() })).catch([]),
  lastScheduleTime: z.string().nullish().catch(null),
  lastSuccessfulTime: z.string().nullish().catch(null),
});

const jobConditionsSchema = z.object({
  conditions: z.array(z.object({ type: z.string(), status: z.string(), lastTransitionTime: z.string().optional() })).catch([]),
  completionTime: z.string().nullish().catch(null),
});

export type CronJobAction =
  | { type: "createJob"; name: string; scheduledTime: Date; labels: Record<string, string>; annotations: Record<string, string>; spec: JobSpec }
  | { type: "deleteJob"; name: string; uid: string; reason: "Replace" | "HistoryLimit" };

export interface CronJobPlan {
  actions: CronJobAction[];
  status: CronJobStatus;
  events: EventInput[];
  requeueAfterMs?: number;
}

export interface CronJobPlanInput {
  cronJob: StoredObject;
  /** Live Jobs owned by the CronJob. */
  jobs: StoredObject[];
  now: Date;
}

interface JobFacts {
  job: StoredObject;
  outcome: JobOutcome;
  scheduledTime: Date;
  /** When it completed (Complete only). */
  completedAt: Date | null;
}

function jobFacts(job: StoredObject): JobFacts {
  const status = jobConditionsSchema.parse(job.status);
  const isTrue = (type: string) => status.conditions.find((c) => c.type === type && c.status === "True");
  const complete = isTrue("Complete");
  const outcome: JobOutcome = complete ? "Complete" : isTrue("Failed") ? "Failed" : "Running";
  const scheduled = Date.parse(job.annotations[scheduledTimestampAnnotation] ?? "");
  const completed = Date.parse(status.completionTime ?? complete?.lastTransitionTime ?? "");
  return {
    job,
    outcome,
    scheduledTime: Number.isFinite(scheduled) ? new Date(scheduled) : job.createdAt,
    completedAt: outcome === "Complete" && Number.isFinite(completed) ? new Date(completed) : null,
  };
}

/** `<cronjob>-<unix minutes>`, as Kubernetes' getJobName. */
export function jobNameFor(cronJobName: string, scheduledTime: Date): string {
  return `${cronJobName}-${Math.floor(scheduledTime.getTime() / 60_000)}`;
}

export function planCronJob(input: CronJobPlanInput): CronJobPlan {
  const { cronJob, now } = input;
  const spec = cronJob.spec as CronJobSpec;
  const previous = previousSchema.parse(cronJob.status);
  const jobs = input.jobs.filter((job) => job.deletedAt === null).map(jobFacts);
  const actions: CronJobAction[] = [];
  const events: EventInput[] = [];
  const deleted = new Set<string>();
  let active = jobs.filter((j) => j.outcome === "Running");
  let lastScheduleTime = previous.lastScheduleTime ? new Date(previous.lastScheduleTime) : null;
  const created: { name: string; scheduledTime: Date }[] = [];

  const due = dueRuns(cronJob as StoredObject & { spec: CronJobSpec }, lastScheduleTime, now);
  if (due.tooManyMissed) {
    events.push({
      type: "Warning",
      reason: "TooManyMissedTimes",
      message: `too many missed start times: more than ${due.missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`,
    });
  }
  // Kubernetes' SawCompletedJob: a run last seen active has ended. Warning when it failed, so that
  // notifications (CronJobRunFailed) and the events list single out failed runs.
  const wasActive = new Set(previous.active.map((entry) => entry.name));
  for (const { job, outcome } of jobs) {
    if (outcome === "Running" || !wasActive.has(job.name)) continue;
    events.push({ type: outcome === "Failed" ? "Warning" : "Normal", reason: "SawCompletedJob", message: `Saw completed job: ${job.name}, status: ${outcome}` });
  }
  let runs = due.runs;
  if (runs.length === 0 && due.missed > 0 && !due.tooManyMissed) {
    events.push({ type: "Warning", reason: "MissSchedule", message: `Missed ${due.missed} scheduled time(s) to start a job` });
  }
  if (runs.length > 0 && spec.concurrencyPolicy === "Forbid") {
    if (active.length > 0) {
      // Not recorded as scheduled: once the running Job ends, the run starts if still within the deadline (Kubernetes).
      events.push({ type: "Normal", reason: "JobAlreadyActive", message: `Not starting job for ${runs.at(-1)!.toISOString()}: concurrencyPolicy Forbid and ${active[0]!.job.name} is running` });
      runs = [];
    } else {
      runs = runs.slice(0, 1);
    }
  }
  if (runs.length > 0 && spec.concurrencyPolicy === "Replace") {
    runs = runs.slice(-1);
    for (const { job } of active) {
      deleted.add(job.uid);
      actions.push({ type: "deleteJob", name: job.name, uid: job.uid, reason: "Replace" });
    }
    active = [];
  }
  for (const scheduledTime of runs) {
    const name = jobNameFor(cronJob.name, scheduledTime);
    // Already made by an earlier pass (or another control plane) whose status write we did not see.
    if (!jobs.some((j) => j.job.name === name)) {
      actions.push({
        type: "createJob",
        name,
        scheduledTime,
        labels: spec.jobTemplate.metadata.labels,
        annotations: { ...spec.jobTemplate.metadata.annotations, [scheduledTimestampAnnotation]: scheduledTime.toISOString() },
        spec: spec.jobTemplate.spec,
      });
      created.push({ name, scheduledTime });
    }
    lastScheduleTime = scheduledTime;
  }

  // History: the newest finished Jobs of each outcome are kept, up to their limits.
  const newestFirst = [...jobs].sort((a, b) => b.scheduledTime.getTime() - a.scheduledTime.getTime());
  for (const [outcome, limit] of [["Complete", spec.successfulJobsHistoryLimit], ["Failed", spec.failedJobsHistoryLimit]] as const) {
    for (const { job } of newestFirst.filter((j) => j.outcome === outcome).slice(limit)) {
      deleted.add(job.uid);
      actions.push({ type: "deleteJob", name: job.name, uid: job.uid, reason: "HistoryLimit" });
    }
  }

  const successes = jobs.flatMap((j) => (j.completedAt ? [j.completedAt.getTime()] : []));
  if (previous.lastSuccessfulTime) successes.push(Date.parse(previous.lastSuccessfulTime));
  const newestRun = created.at(-1) ?? newestFirst[0];
  const lastRun = newestRun
    ? "outcome" in newestRun
      ? { job: newestRun.job.name, scheduledTime: newestRun.scheduledTime.toISOString(), outcome: newestRun.outcome }
      : { job: newestRun.name, scheduledTime: newestRun.scheduledTime.toISOString(), outcome: "Running" as const }
    : null;
  const status: CronJobStatus = {
    active: [...active.filter((j) => !deleted.has(j.job.uid)).map((j) => ({ name: j.job.name })), ...created.map(({ name }) => ({ name }))],
    lastScheduleTime: lastScheduleTime?.toISOString() ?? null,
    lastSuccessfulTime: successes.length > 0 ? new Date(Math.max(...successes)).toISOString() : null,
    nextScheduleTime: spec.suspend ? null : (due.next?.toISOString() ?? null),
    lastRun,
    health: spec.suspend ? "Suspended" : lastRun?.outcome === "Failed" ? "Degraded" : "Healthy",
  };
  // Suspended: nothing to wake for until the spec changes (Kubernetes does not requeue either).
  const requeueAfterMs = !spec.suspend && due.next ? due.next.getTime() - now.getTime() + wakeDelayMs : undefined;
  return requeueAfterMs === undefined ? { actions, status, events } : { actions, status, events, requeueAfterMs };
}
