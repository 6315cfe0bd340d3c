import type { StoredObject } from "../desired/index.ts";

/**
 * Whether a workload's rollout has ended, and how: pure, from the status its
 * own controller wrote (house style 3). A status written for an older
 * generation says nothing about this rollout, so the verdict waits for the
 * controller to observe the rollout's generation.
 */
export type RolloutVerdict = { outcome: "progressing" } | { outcome: "complete" } | { outcome: "failed"; reason: string };

interface Condition {
  type: string;
  status: string;
  reason?: string;
  lastTransitionTime?: string;
}

/** Restarts from which a pod of the new template counts as crash-looping rather than slow. */
export const crashLoopRestarts = 2;

/**
 * `startedAt`: when the rollout began. A Progressing=False condition that
 * turned False before it is the previous rollout's failure, still shown until
 * this one makes progress (a rollback to a ReplicaSet whose pods are not yet
 * ready), not this rollout's.
 */
export function judgeRollout(workload: StoredObject, generation: number, startedAt: Date, pods: readonly StoredObject[]): RolloutVerdict {
  if (workload.observedGeneration < generation) return { outcome: "progressing" };
  const status = workload.status as { health?: string; conditions?: Condition[] };
  const progressing = status.conditions?.find((condition) => condition.type === "Progressing");
  if (workload.kind === "Deployment") {
    const stale = progressing?.lastTransitionTime !== undefined && Date.parse(progressing.lastTransitionTime) < startedAt.getTime();
    if (progressing?.status === "False" && !stale) return { outcome: "failed", reason: failureReason(progressing.reason ?? "Failed", pods) };
    if (progressing?.reason === "NewReplicaSetAvailable" && status.health === "Healthy") return { outcome: "complete" };
    return { outcome: "progressing" };
  }
  if (workload.kind === "DaemonSet") {
    // A DaemonSet has no progress deadline in Kubernetes: it never fails, it only completes.
    if (progressing?.reason === "NewPodsAvailable") return { outcome: "complete" };
    return { outcome: "progressing" };
  }
  if (workload.kind === "StatefulSet") return judgeStatefulSet(workload);
  return { outcome: "progressing" };
}

/**
 * A StatefulSet has no progress deadline either; its rollout is complete as
 * `kubectl rollout status` says: every replica ready, and every ordinal at or
 * above the partition running the new revision (all of them, and the
 * revision made current, without a partition). An OnDelete set completes
 * only once its pods were deleted by hand and came back new.
 */
function judgeStatefulSet(workload: StoredObject): RolloutVerdict {
  const spec = workload.spec as { replicas?: number; updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } } };
  const status = workload.status as { readyReplicas?: number; updatedReplicas?: number; currentRevision?: string; updateRevision?: string };
  const desired = spec.replicas ?? 1;
  const partition = spec.updateStrategy?.type === "RollingUpdate" ? Math.min(spec.updateStrategy.rollingUpdate?.partition ?? 0, desired) : 0;
  if (!status.updateRevision || (status.readyReplicas ?? 0) < desired) return { outcome: "progressing" };
  if ((status.updatedReplicas ?? 0) < desired - partition) return { outcome: "progressing" };
  if (partition === 0 && status.currentRevision !== status.updateRevision) return { outcome: "progressing" };
  return { outcome: "complete" };
}

/**
 * The condition's reason, with what the new template's pods show: crash-looping
 * (restarting), unschedulable (bound to no node), or never ready.
 */
export function failureReason(conditionReason: string, pods: readonly StoredObject[]): string {
  const restarts = (pod: StoredObject) =>
    ((pod.status as { containerStatuses?: { restartCount?: number }[] }).containerStatuses ?? []).reduce((sum, container) => sum + (container.restartCount ?? 0), 0);
  const crashing = pods.find((pod) => restarts(pod) >= crashLoopRestarts);
  if (crashing) return `${conditionReason}: crash-looping (pod ${crashing.name} restarted ${restarts(crashing)} times)`;
  const unbound = pods.find((pod) => !(pod.spec as { nodeName?: string }).nodeName);
  if (unbound) return `${conditionReason}: unschedulable (pod ${unbound.name} is bound to no node)`;
  const unready = pods.find((pod) => (pod.status as { ready?: boolean }).ready !== true);
  if (unready) return `${conditionReason}: not ready (pod ${unready.name} never became ready)`;
  return conditionReason;
}
