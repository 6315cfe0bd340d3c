import { z } from "zod";
import type { StoredObject } from "../desired/index.ts";
import { podSummary, podSummarySchema } from "./workloads.ts";

/**
 * What the detail pages and their API show of a pod and of any object's
 * conditions. Built from the statuses the controllers and node links write,
 * never from the spec: a pod's spec holds its env (and Secret references), and
 * the API shows nothing of it (secrets never shown).
 */

/** A condition as Kubernetes writes it; the optional parts null when not recorded. */
export const conditionSchema = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  lastTransitionTime: z.string().nullable(),
});
export type Condition = z.infer<typeof conditionSchema>;

const storedConditionsSchema = z
  .array(
    z.object({
      type: z.string(),
      status: z.string(),
      reason: z.string().nullish(),
      message: z.string().nullish(),
      lastTransitionTime: z.string().nullish(),
    }),
  )
  .catch([]);

/** `status.conditions` of a stored object (missing or malformed: none). */
export function conditionsOf(object: StoredObject): Condition[] {
  return storedConditionsSchema.parse(object.status.conditions ?? []).map((condition) => ({
    type: condition.type,
    status: condition.status,
    reason: condition.reason ?? null,
    message: condition.message ?? null,
    lastTransitionTime: condition.lastTransitionTime ?? null,
  }));
}

export const containerDetailSchema = z.object({
  name: z.string(),
  init: z.boolean(),
  ready: z.boolean(),
  restarts: z.number().int(),
  state: z.enum(["waiting", "running", "terminated", "unknown"]),
  /** The waiting or terminated reason (CrashLoopBackOff, Error, Completed...), null while running. */
  reason: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  /** How the previous run ended, when it restarted. */
  lastTermination: z.object({ reason: z.string(), exitCode: z.number().int().nullable(), message: z.string().nullable(), finishedAt: z.string().nullable() }).nullable(),
});

export const podDetailSchema = podSummarySchema.extend({
  /** When the node started the pod (ISO 8601), null before it did. */
  startTime: z.string().nullable(),
  /** The most telling error text: the pod's own message, a container's waiting or termination message, or why it is unschedulable; null when none. */
  lastError: z.string().nullable(),
  containers: z.array(containerDetailSchema),
  conditions: z.array(conditionSchema),
});
export type PodDetail = z.infer<typeof podDetailSchema>;

const terminatedSchema = z.object({ exitCode: z.number().int().nullable().catch(null), reason: z.string().catch("Unknown"), message: z.string().optional(), finishedAt: z.string().optional() });
const stateSchema = z
  .object({
    waiting: z.object({ reason: z.string(), message: z.string().optional() }).optional(),
    running: z.looseObject({}).optional(),
    terminated: terminatedSchema.optional(),
  })
  .catch({});
const storedContainerSchema = z.object({
  name: z.string().catch("?"),
  ready: z.boolean().catch(false),
  restartCount: z.number().int().catch(0),
  state: stateSchema.optional(),
  lastState: stateSchema.optional(),
});
const storedPodStatusSchema = z.object({
  reason: z.string().nullish().catch(null),
  message: z.string().nullish().catch(null),
  startTime: z.string().nullish().catch(null),
  initContainerStatuses: z.array(storedContainerSchema).catch([]).optional(),
  containerStatuses: z.array(storedContainerSchema).catch([]).optional(),
});

export function podDetail(pod: StoredObject): PodDetail {
  const status = storedPodStatusSchema.parse(pod.status);
  const containers = [
    ...(status.initContainerStatuses ?? []).map((container) => containerDetail(container, true)),
    ...(status.containerStatuses ?? []).map((container) => containerDetail(container, false)),
  ];
  const conditions = conditionsOf(pod);
  return {
    ...podSummary(pod),
    startTime: status.startTime ?? null,
    lastError: lastError(status, conditions),
    containers,
    conditions,
  };
}

type StoredContainer = z.infer<typeof storedContainerSchema>;

function containerDetail(container: StoredContainer, init: boolean): z.infer<typeof containerDetailSchema> {
  const state = container.state ?? {};
  const previous = container.lastState?.terminated;
  return {
    name: container.name,
    init,
    ready: container.ready,
    restarts: container.restartCount,
    state: state.waiting ? "waiting" : state.running ? "running" : state.terminated ? "terminated" : "unknown",
    reason: state.waiting?.reason ?? state.terminated?.reason ?? null,
    exitCode: state.terminated?.exitCode ?? null,
    lastTermination: previous ? { reason: previous.reason, exitCode: previous.exitCode, message: previous.message ?? null, finishedAt: previous.finishedAt ?? null } : null,
  };
}

/**
 * The line a user reads first when a pod is broken, in the order kubectl
 * describe makes them look: the pod's own message, then a container stuck
 * waiting, then a container's (or its previous run's) failure, then a False
 * condition (Unschedulable).
 */
function lastError(status: z.infer<typeof storedPodStatusSchema>, conditions: Condition[]): string | null {
  const labelled = (reason: string | null | undefined, message: string | null | undefined) => (reason && message ? `${reason}: ${message}` : (message ?? reason ?? null));
  if (status.message) return labelled(status.reason, status.message);
  const containers = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
  for (const container of containers) {
    const waiting = container.state?.waiting;
    if (waiting?.message) return `${container.name}: ${labelled(waiting.reason, waiting.message)}`;
  }
  for (const container of containers) {
    const failed = [container.state?.terminated, container.lastState?.terminated].find((terminated) => terminated && terminated.exitCode !== 0);
    if (failed) return `${container.name}: ${labelled(failed.reason, failed.message ?? (failed.exitCode !== null ? `exit code ${failed.exitCode}` : null))}`;
  }
  const refused = conditions.find((condition) => condition.status === "False" && condition.type !== "Ready" && (condition.reason || condition.message));
  return refused ? labelled(refused.reason, refused.message) : null;
}
