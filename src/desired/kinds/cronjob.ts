import { z } from "zod";
import { jobSpecSchema } from "./job.ts";
import { BATCH_V1, defineKind, templateMetaSchema } from "./meta.ts";
import { dns1123Subdomain, nonNegativeInt } from "./names.ts";
import { scheduleProblem, timeZoneProblem } from "./schedule.ts";

/** A CronJob: a Job made on a schedule. */

const scheduleSchema = z.string().superRefine((schedule, ctx) => {
  const problem = scheduleProblem(schedule);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const timeZoneSchema = z.string().superRefine((timeZone, ctx) => {
  const problem = timeZoneProblem(timeZone);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

export const cronJobSpecSchema = z.strictObject({
  schedule: scheduleSchema,
  /** Without it the schedule is read in the control plane's local time zone, as in Kubernetes. */
  timeZone: timeZoneSchema.optional(),
  concurrencyPolicy: z.enum(["Allow", "Forbid", "Replace"]).default("Allow"),
  /** How late a missed run may still start; unset means no limit. */
  startingDeadlineSeconds: nonNegativeInt.optional(),
  suspend: z.boolean().default(false),
  successfulJobsHistoryLimit: nonNegativeInt.default(3),
  failedJobsHistoryLimit: nonNegativeInt.default(1),
  jobTemplate: z.strictObject({
    metadata: templateMetaSchema.prefault({}),
    spec: jobSpecSchema,
  }),
});
export type CronJobSpec = z.infer<typeof cronJobSpecSchema>;

/**
 * capstan's catch-up policy for runs missed while the control plane was down
 * (reconcilers/cron-schedule.ts): latest (Kubernetes' behaviour), skip, all.
 */
export const missedRunsAnnotation = "capstan.dev/missed-runs";
export const missedRunsPolicies = ["latest", "skip", "all"] as const;
export type MissedRunsPolicy = (typeof missedRunsPolicies)[number];

export const cronJobKind = defineKind({
  kind: "CronJob",
  apiVersions: BATCH_V1,
  namespaced: true,
  // Job names are the CronJob's name plus an 11-character suffix, and must still fit in 63.
  name: dns1123Subdomain(52),
  fields: { spec: cronJobSpecSchema },
  specOf: (manifest) => manifest.spec,
  check: (manifest, ctx) => {
    const policy = manifest.metadata.annotations?.[missedRunsAnnotation];
    if (policy !== undefined && !(missedRunsPolicies as readonly string[]).includes(policy)) {
      ctx.addIssue({ code: "custom", path: ["metadata", "annotations", missedRunsAnnotation], message: `must be one of ${missedRunsPolicies.join(", ")}` });
    }
  },
});
export type CronJob = z.infer<typeof cronJobKind.schema>;
