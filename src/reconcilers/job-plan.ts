import { z } from "zod";
import type { JobSpec, PodTemplateSpec, StoredObject } from "../desired/index.ts";
import { healthStates } from "./health.ts";
import { formatIndexes, jobPodFacts, jobPodTemplate, type JobPodFacts } from "./job-pods.ts";
import { burstReplicas, deletionOrder, podNameSuffix } from "./replicaset-plan.ts";
import type { EventInput } from "./types.ts";

/**
 * The Job controller's decisions, pure (house style 3): given a Job and its
 * pods, which pods to create or delete, whether the Job is finished, and its
 * status. Kubernetes' pkg/controller/job (syncJob, manageJob,
 * pastBackoffLimitOnFailure, backoff records), without pod-failure policies,
 * success policies, pod-replacement policies or finalizer tracking: finished
 * pods are kept until the Job goes, so they are counted from what is there.
 */

const conditionSchema = z.object({
  type: z.enum(["Complete", "Failed", "Suspended"]),
  status: z.enum(["True", "False"]),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
});
export type JobCondition = z.infer<typeof conditionSchema>;

export const jobStatusSchema = z.object({
  active: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  startTime: z.string().nullable(),
  completionTime: z.string().nullable(),
  /** Indexed Jobs only: "0-2,4". */
  completedIndexes: z.string().optional(),
  conditions: z.array(conditionSchema),
  health: z.enum(healthStates),
});
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** The previous status, read leniently (a new Job has none). */
const previousStatusSchema = z.object({
  startTime: z.string().nullish().catch(null),
  completionTime: z.string().nullish().catch(null),
  conditions: z.array(conditionSchema).catch([]),
});

export type JobAction =
  | { type: "createPod"; name: string; index: number | null; template: PodTemplateSpec }
  | { type: "deletePod"; name: string; uid: string; reason: string }
  /** ttlSecondsAfterFinished passed: the Job and its pods go. */
  | { type: "deleteJob" };

export interface JobPlan {
  actions: JobAction[];
  status: JobStatus;
  /** Transitions worth an event (Completed, BackoffLimitExceeded, ...). */
  events: EventInput[];
  requeueAfterMs?: number;
}

export interface JobPlanInput {
  job: StoredObject;
  /** Live pods owned by the Job, finished ones included. */
  pods: StoredObject[];
  now: Date;
  nameSeed: string;
}

/** Kubernetes' DefaultJobPodFailureBackOff and the 6-minute cap it long had (MaxJobPodFailureBackOff). */
export const podFailureBackoff = { initialMs: 10_000, maxMs: 360_000 };

/** How long to wait before replacing failed pods: 10 s doubling per failure since the last success, capped. */
export function failureBackoffRemainingMs(pods: JobPodFacts[], now: Date): number {
  const lastSuccess = Math.max(0, ...pods.filter((p) => p.phase === "Succeeded").map((p) => p.finishedAt!.getTime()));
  const failures = pods.filter((p) => p.phase === "Failed" && p.finishedAt!.getTime() > lastSuccess);
  if (failures.length === 0) return 0;
  const lastFailure = Math.max(...failures.map((p) => p.finishedAt!.getTime()));
  const backoff = Math.min(podFailureBackoff.maxMs, podFailureBackoff.initialMs * 2 ** Math.min(failures.length - 1, 30));
  return Math.max(0, lastFailure + backoff - now.getTime());
}

export function planJob(input: JobPlanInput): JobPlan {
  const { job, now } = input;
  const spec = job.spec as JobSpec;
  const previous = previousStatusSchema.parse(job.status);
  const facts = input.pods.map(jobPodFacts);
  const active = facts.filter((p) => p.active);
  const succeeded = facts.filter((p) => p.phase === "Succeeded");
  const failed = facts.filter((p) => p.phase === "Failed");
  const indexed = spec.completionMode === "Indexed";
  const completions = spec.completions;
  const succeededIndexes = new Set(succeeded.map((p) => p.index).filter((i): i is number => i !== null && i < (completions ?? 0)));

  const actions: JobAction[] = [];
  const events: EventInput[] = [];
  const waits: number[] = [];
  const deleted = new Set<string>();
  const deletePods = (pods: JobPodFacts[], reason: string) => {
    for (const { pod } of pods) {
      if (deleted.has(pod.uid)) continue;
      deleted.add(pod.uid);
      actions.push({ type: "deletePod", name: pod.name, uid: pod.uid, reason });
    }
  };
  let conditions = previous.conditions;
  const setCondition = (type: JobCondition["type"], status: "True" | "False", reason: string, message: string) => {
    const existing = conditions.find((c) => c.type === type);
    if (existing && existing.status === status && existing.reason === reason) return;
    const changed = !existing || existing.status !== status;
    const lastTransitionTime = changed ? now.toISOString() : existing.lastTransitionTime;
    conditions = [...conditions.filter((c) => c.type !== type), { type, status, reason, message, lastTransitionTime }];
  };
  const finishedCondition = () => conditions.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");

  let startTime = previous.startTime ?? null;
  let completionTime = previous.completionTime ?? null;

  if (!finishedCondition()) {
    if (spec.suspend) {
      // Suspending deletes the active pods and stops the deadline clock: it restarts on resume, as in Kubernetes.
      deletePods(active, "JobSuspended");
      if (conditions.find((c) => c.type === "Suspended")?.status !== "True") events.push({ type: "Normal", reason: "Suspended", message: "Job suspended" });
      setCondition("Suspended", "True", "JobSuspended", "Job suspended");
      startTime = null;
    } else {
      if (conditions.find((c) => c.type === "Suspended")?.status === "True") {
        setCondition("Suspended", "False", "JobResumed", "Job resumed");
        events.push({ type: "Normal", reason: "Resumed", message: "Job resumed" });
      }
      startTime ??= now.toISOString();
      const failure = failureOf(spec, failed.length, active, Date.parse(startTime), now);
      const complete = indexed
        ? succeededIndexes.size >= (completions ?? 0)
        : completions === undefined
          ? succeeded.length > 0 && active.length === 0
          : succeeded.length >= completions;
      if (failure) {
        deletePods(active, failure.reason);
        setCondition("Failed", "True", failure.reason, failure.message);
        events.push({ type: "Warning", reason: failure.reason, message: failure.message });
      } else if (complete) {
        deletePods(active, "JobComplete");
        setCondition("Complete", "True", "Completed", "Job completed");
        completionTime = now.toISOString();
        events.push({ type: "Normal", reason: "Completed", message: "Job completed" });
      } else {
        manage(input, spec, { active, succeeded, facts, succeededIndexes }, actions, deletePods, waits);
        if (spec.activeDeadlineSeconds !== undefined) {
          waits.push(Date.parse(startTime) + spec.activeDeadlineSeconds * 1000 - now.getTime());
        }
      }
    }
  }

  const finished = finishedCondition();
  if (finished) {
    // A finished Job keeps no running pods (one that outlived the decision goes too).
    deletePods(active, finished.type === "Complete" ? "JobComplete" : finished.reason);
    if (spec.ttlSecondsAfterFinished !== undefined) {
      const expiresAt = Date.parse(finished.lastTransitionTime) + spec.ttlSecondsAfterFinished * 1000;
      if (expiresAt <= now.getTime()) actions.push({ type: "deleteJob" });
      else waits.push(expiresAt - now.getTime());
    }
  }

  const suspended = conditions.find((c) => c.type === "Suspended")?.status === "True";
  const status: JobStatus = {
    active: active.filter((p) => !deleted.has(p.pod.uid)).length,
    succeeded: indexed ? succeededIndexes.size : succeeded.length,
    failed: failed.length,
    startTime,
    completionTime,
    ...(indexed ? { completedIndexes: formatIndexes(succeededIndexes) } : {}),
    conditions,
    health: finished ? (finished.type === "Complete" ? "Healthy" : "Degraded") : suspended ? "Suspended" : "Progressing",
  };
  const positive = waits.filter((ms) => ms > 0);
  return positive.length > 0 ? { actions, status, events, requeueAfterMs: Math.min(...positive) } : { actions, status, events };
}

function failureOf(spec: JobSpec, failedCount: number, active: JobPodFacts[], startedAt: number, now: Date): { reason: string; message: string } | undefined {
  // restartPolicy OnFailure: the agent restarts containers in place, and those restarts count as failures.
  const restarts = spec.template.spec.restartPolicy === "OnFailure" ? active.reduce((sum, p) => sum + p.restarts, 0) : 0;
  // Kubernetes' pastBackoffLimitOnFailure: restarts reaching the limit fail the Job (with limit 0, the first).
  const restartsExceeded = restarts > 0 && restarts >= spec.backoffLimit;
  if (failedCount > spec.backoffLimit || restartsExceeded) {
    return { reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" };
  }
  if (spec.activeDeadlineSeconds !== undefined && now.getTime() - startedAt >= spec.activeDeadlineSeconds * 1000) {
    return { reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" };
  }
  return undefined;
}

interface PodSets {
  active: JobPodFacts[];
  succeeded: JobPodFacts[];
  facts: JobPodFacts[];
  succeededIndexes: Set<number>;
}

/** Kubernetes' manageJob: as many active pods as parallelism and the remaining work allow, no new ones while backing off. */
function manage(
  input: JobPlanInput,
  spec: JobSpec,
  pods: PodSets,
  actions: JobAction[],
  deletePods: (pods: JobPodFacts[], reason: string) => void,
  waits: number[],
): void {
  const { job, now } = input;
  const { active, succeeded, facts, succeededIndexes } = pods;
  const indexed = spec.completionMode === "Indexed";
  let wanted: number;
  let freeIndexes: number[] = [];
  if (indexed) {
    // An active pod with a done, duplicate or out-of-range index is surplus.
    const seen = new Set<number>();
    const surplus = active.filter((p) => {
      const keep = p.index !== null && p.index < spec.completions! && !succeededIndexes.has(p.index) && !seen.has(p.index);
      if (keep) seen.add(p.index!);
      return !keep;
    });
    deletePods(surplus, "SurplusIndex");
    for (let index = 0; index < spec.completions! && freeIndexes.length < burstReplicas; index++) {
      if (!succeededIndexes.has(index) && !seen.has(index)) freeIndexes.push(index);
    }
    const running = active.length - surplus.length;
    wanted = Math.min(spec.parallelism, running + freeIndexes.length);
    freeIndexes = freeIndexes.slice(0, Math.max(0, wanted - running));
    if (running > wanted) deletePods(deletionOrder(active.filter((p) => !surplus.includes(p)).map((p) => p.pod)).slice(0, running - wanted).map(jobPodFacts), "TooManyActive");
    if (freeIndexes.length === 0) return;
  } else {
    // A work queue (no completions) starts no new pod once one has succeeded: the others finish the queue.
    wanted = spec.completions === undefined ? (succeeded.length > 0 ? active.length : spec.parallelism) : Math.min(spec.parallelism, spec.completions - succeeded.length);
    if (active.length > wanted) {
      deletePods(deletionOrder(active.map((p) => p.pod)).slice(0, active.length - wanted).map(jobPodFacts), "TooManyActive");
      return;
    }
    if (active.length === wanted) return;
  }
  const backoffMs = failureBackoffRemainingMs(facts, now);
  if (backoffMs > 0) {
    waits.push(backoffMs);
    return;
  }
  const taken = new Set(input.pods.map((pod) => pod.name));
  const toCreate = indexed ? freeIndexes.length : Math.min(wanted - active.length, burstReplicas);
  for (let n = 0, attempt = 0; n < toCreate; attempt++) {
    const index = indexed ? freeIndexes[n]! : null;
    const name = `${job.name}-${index === null ? "" : `${index}-`}${podNameSuffix(input.nameSeed, attempt)}`;
    if (taken.has(name)) continue;
    taken.add(name);
    actions.push({ type: "createPod", name, index, template: jobPodTemplate(job, spec.template, index) });
    n++;
  }
}
