import { z } from "zod";
import type { DaemonSetSpec } from "../desired/index.ts";
import { deploymentConditionSchema, type DeploymentCondition } from "./deployment-plan.ts";
import { type Health, healthStates } from "./health.ts";

/**
 * A DaemonSet's status, computed in one place (house style 6): Kubernetes'
 * counts (updateDaemonSetStatus), plus the Available and Progressing
 * conditions capstan keeps for every rollout (Kubernetes' DaemonSet controller
 * leaves its conditions empty) and the health Argo CD gives a DaemonSet.
 */

export const failedPodBackoffSchema = z.record(
  z.string(),
  z.object({
    /** The current back-off: the next failed pod on the node is deleted no sooner than this after the last. */
    delayMs: z.number().int(),
    /** When a failed pod on the node was last deleted (ISO time). */
    lastAt: z.string(),
  }),
);
export type FailedPodBackoff = z.infer<typeof failedPodBackoffSchema>;

export const daemonSetStatusSchema = z.object({
  observedGeneration: z.number().int(),
  /** Nodes that should run the daemon pod. */
  desiredNumberScheduled: z.number().int(),
  /** Of those, nodes running at least one daemon pod. */
  currentNumberScheduled: z.number().int(),
  /** Nodes running a daemon pod that should not (it may stay, e.g. the node is not ready, or it is being removed). */
  numberMisscheduled: z.number().int(),
  /** Nodes that should run the daemon pod and whose oldest daemon pod is ready. */
  numberReady: z.number().int(),
  /** ... and has been for minReadySeconds. */
  numberAvailable: z.number().int(),
  /** desiredNumberScheduled - numberAvailable. */
  numberUnavailable: z.number().int(),
  /** Nodes that should run the daemon pod and whose oldest daemon pod runs the current template. */
  updatedNumberScheduled: z.number().int(),
  /** The current template's hash, as in the pods' controller-revision-hash label. */
  currentRevisionHash: z.string(),
  conditions: z.array(deploymentConditionSchema),
  health: z.enum(healthStates),
  /**
   * Per node, the back-off between deletions of failed daemon pods (Kubernetes
   * keeps it in the controller's memory; kept here it survives a restart of
   * the control plane and keeps the plan a function of what is stored).
   */
  failedPodBackoff: failedPodBackoffSchema,
});
export type DaemonSetStatus = z.infer<typeof daemonSetStatusSchema>;

export type DaemonSetCounts = Omit<DaemonSetStatus, "observedGeneration" | "currentRevisionHash" | "conditions" | "health" | "failedPodBackoff">;

export const daemonSetProgressingReasons = {
  /** Every node that should run the daemon runs the current template, available. */
  complete: "NewPodsAvailable",
  /** RollingUpdate under way, or pods missing or not yet available. */
  updating: "PodsUpdating",
  /** OnDelete: every pod is available but some run an older template until someone deletes them. */
  waitingForDeletion: "WaitingForPodDeletion",
} as const;

/** The previous status, read leniently: what is missing or malformed counts as never written. */
const previousStatusSchema = z.object({
  conditions: z.array(z.unknown()).catch([]),
  failedPodBackoff: failedPodBackoffSchema.catch({}),
});

export function previousDaemonSetStatus(status: Record<string, unknown>): { conditions: DeploymentCondition[]; failedPodBackoff: FailedPodBackoff } {
  const previous = previousStatusSchema.parse(status);
  return {
    conditions: previous.conditions.flatMap((condition) => {
      const parsed = deploymentConditionSchema.safeParse(condition);
      return parsed.success ? [parsed.data] : [];
    }),
    failedPodBackoff: previous.failedPodBackoff,
  };
}

/**
 * The conditions and the health. Health follows Argo CD's DaemonSet check
 * (Progressing until every node that should run the daemon runs the current
 * template, available), except that an OnDelete DaemonSet is Healthy only
 * once its pods are available: Argo CD calls it Healthy at once, which hides
 * a daemon that crashes on every node.
 */
export function daemonSetConditionsAndHealth(
  name: string,
  spec: DaemonSetSpec,
  counts: DaemonSetCounts,
  maxUnavailable: number,
  previous: DeploymentCondition[],
  now: Date,
): { conditions: DeploymentCondition[]; health: Health } {
  const conditions = [...previous];
  const set = (type: DeploymentCondition["type"], status: DeploymentCondition["status"], reason: string, message: string) => {
    const index = conditions.findIndex((condition) => condition.type === type);
    const current = index === -1 ? undefined : conditions[index]!;
    // As Kubernetes' SetCondition: the same status and reason again keep their times, so a stored status settles.
    if (current && current.status === status && current.reason === reason && current.message === message) return;
    const at = now.toISOString();
    const next = { type, status, reason, message, lastUpdateTime: at, lastTransitionTime: current && current.status === status ? current.lastTransitionTime : at };
    if (index === -1) conditions.push(next);
    else conditions[index] = next;
  };

  const desired = counts.desiredNumberScheduled;
  if (counts.numberAvailable >= desired - maxUnavailable) {
    set("Available", "True", "MinimumPodsAvailable", "DaemonSet has minimum availability.");
  } else {
    set("Available", "False", "MinimumPodsUnavailable", "DaemonSet does not have minimum availability.");
  }

  const allUpdated = counts.updatedNumberScheduled >= desired;
  const allAvailable = counts.numberAvailable >= desired;
  let health: Health;
  if (allUpdated && allAvailable) {
    set("Progressing", "True", daemonSetProgressingReasons.complete, `daemon set "${name}" successfully rolled out`);
    health = "Healthy";
  } else if (spec.updateStrategy.type === "OnDelete" && allAvailable) {
    const message = `daemon set "${name}": ${counts.updatedNumberScheduled} out of ${desired} pods run the current template; the others are replaced when deleted (OnDelete)`;
    set("Progressing", "True", daemonSetProgressingReasons.waitingForDeletion, message);
    health = "Healthy";
  } else {
    const message = allUpdated
      ? `Waiting for daemon set "${name}" rollout to finish: ${counts.numberAvailable} of ${desired} updated pods are available`
      : `Waiting for daemon set "${name}" rollout to finish: ${counts.updatedNumberScheduled} out of ${desired} new pods have been updated`;
    set("Progressing", "True", daemonSetProgressingReasons.updating, message);
    health = "Progressing";
  }
  const order = ["Available", "Progressing"];
  return { conditions: conditions.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type)), health };
}
