import { z } from "zod";
import type { CronJobSpec, DesiredStore, JobSpec, StoredObject } from "../desired/index.ts";

/**
 * One line per Job and per CronJob for `capstan jobs`, `capstan status` and
 * the JSON API: how far a Job got and how it ended; when a CronJob last ran,
 * how that run went, and when it runs next. Read from the statuses the
 * controllers write.
 */

export const jobSummarySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  /** The CronJob that made it, if one did. */
  cronJob: z.string().nullable(),
  /** "succeeded/completions", or "succeeded" for a work queue without completions. */
  completions: z.string(),
  active: z.number().int(),
  failed: z.number().int(),
  /** Running, Suspended, Complete, or Failed: <reason>; pending before the controller's first pass. */
  outcome: z.string(),
  startTime: z.string().nullable(),
  completionTime: z.string().nullable(),
  health: z.string(),
});
export type JobSummary = z.infer<typeof jobSummarySchema>;

export const cronJobSummarySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  schedule: z.string(),
  timeZone: z.string().nullable(),
  suspend: z.boolean(),
  active: z.number().int(),
  lastScheduleTime: z.string().nullable(),
  lastSuccessfulTime: z.string().nullable(),
  lastRun: z.object({ job: z.string(), scheduledTime: z.string(), outcome: z.string() }).nullable(),
  nextScheduleTime: z.string().nullable(),
  health: z.string(),
});
export type CronJobSummary = z.infer<typeof cronJobSummarySchema>;

export const jobListSchema = z.object({ jobs: z.array(jobSummarySchema), cronJobs: z.array(cronJobSummarySchema) });

const jobStatusSchema = z.object({
  active: z.number().catch(0),
  succeeded: z.number().catch(0),
  failed: z.number().catch(0),
  startTime: z.string().nullish().catch(null),
  completionTime: z.string().nullish().catch(null),
  conditions: z.array(z.object({ type: z.string(), status: z.string(), reason: z.string().optional() })).catch([]),
  health: z.string().catch("Unknown"),
});

const cronJobStatusSchema = z.object({
  active: z.array(z.unknown()).catch([]),
  lastScheduleTime: z.string().nullish().catch(null),
  lastSuccessfulTime: z.string().nullish().catch(null),
  nextScheduleTime: z.string().nullish().catch(null),
  lastRun: z.object({ job: z.string(), scheduledTime: z.string(), outcome: z.string() }).nullish().catch(null),
  health: z.string().catch("Unknown"),
});

function summariseJob(job: StoredObject, cronJobsByUid: Map<string, string>): JobSummary {
  const spec = job.spec as JobSpec;
  const status = jobStatusSchema.parse({ active: 0, succeeded: 0, failed: 0, conditions: [], health: "Unknown", ...job.status });
  const condition = (type: string) => status.conditions.find((c) => c.type === type && c.status === "True");
  const failed = condition("Failed");
  let outcome: string;
  if (condition("Complete")) outcome = "Complete";
  else if (failed) outcome = `Failed: ${failed.reason ?? "unknown"}`;
  else if (condition("Suspended")) outcome = "Suspended";
  else if (job.observedGeneration === 0) outcome = "pending";
  else outcome = "Running";
  return {
    namespace: job.namespace,
    name: job.name,
    cronJob: job.ownerUid ? (cronJobsByUid.get(job.ownerUid) ?? null) : null,
    completions: spec.completions === undefined ? String(status.succeeded) : `${status.succeeded}/${spec.completions}`,
    active: status.active,
    failed: status.failed,
    outcome,
    startTime: status.startTime ?? null,
    completionTime: status.completionTime ?? null,
    health: status.health,
  };
}

function summariseCronJob(cronJob: StoredObject): CronJobSummary {
  const spec = cronJob.spec as CronJobSpec;
  const status = cronJobStatusSchema.parse({ active: [], health: "Unknown", ...cronJob.status });
  return {
    namespace: cronJob.namespace,
    name: cronJob.name,
    schedule: spec.schedule,
    timeZone: spec.timeZone ?? null,
    suspend: spec.suspend,
    active: status.active.length,
    lastScheduleTime: status.lastScheduleTime ?? null,
    lastSuccessfulTime: status.lastSuccessfulTime ?? null,
    lastRun: status.lastRun ?? null,
    nextScheduleTime: status.nextScheduleTime ?? null,
    health: status.health,
  };
}

export async function jobSummaries(store: DesiredStore): Promise<z.infer<typeof jobListSchema>> {
  const [jobs, cronJobs] = await Promise.all([store.listObjects({ kind: "Job" }), store.listObjects({ kind: "CronJob" })]);
  const cronJobsByUid = new Map(cronJobs.map((cronJob) => [cronJob.uid, cronJob.name]));
  return { jobs: jobs.map((job) => summariseJob(job, cronJobsByUid)), cronJobs: cronJobs.map(summariseCronJob) };
}
