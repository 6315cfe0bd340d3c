import { z } from "zod";
import type { StatefulSetSpec, StoredObject } from "../desired/index.ts";
import { healthStates } from "./health.ts";
import { podFacts } from "./replicaset-plan.ts";
import { ordinalOf, podRevision } from "./statefulset-identity.ts";

/** A StatefulSet's status, computed in one place (house style 6). */

const conditionSchema = z.object({
  type: z.enum(["Available"]),
  status: z.enum(["True", "False"]),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
});

export const statefulSetStatusSchema = z.object({
  observedGeneration: z.number().int(),
  /** Pods of the set that exist (any revision, any ordinal). */
  replicas: z.number().int(),
  readyReplicas: z.number().int(),
  /** Ready for at least minReadySeconds. */
  availableReplicas: z.number().int(),
  /** Pods of currentRevision. */
  currentReplicas: z.number().int(),
  /** Pods of updateRevision. */
  updatedReplicas: z.number().int(),
  /** The revision every pod ran when the last rollout completed; pods below the partition are made from it. */
  currentRevision: z.string(),
  /** The revision of the set's template now. */
  updateRevision: z.string(),
  conditions: z.array(conditionSchema),
  health: z.enum(healthStates),
});
export type StatefulSetStatus = z.infer<typeof statefulSetStatusSchema>;

export interface StatusInput {
  statefulSet: StoredObject;
  pods: StoredObject[];
  now: Date;
}

/** Counts as Kubernetes' computeReplicaStatus, then completeRollingUpdate: once every pod runs the update revision and is ready, it becomes current. */
export function statefulSetStatus(
  input: StatusInput,
  currentRevision: string,
  updateRevision: string,
  healthy: (pod: StoredObject) => boolean,
): StatefulSetStatus {
  const { statefulSet: set, pods, now } = input;
  const spec = set.spec as StatefulSetSpec;
  const replicas = pods.length;
  const readyReplicas = pods.filter((pod) => podFacts(pod).phase === "Running" && podFacts(pod).ready).length;
  const availableReplicas = pods.filter(healthy).length;
  let currentReplicas = pods.filter((pod) => podRevision(pod) === currentRevision).length;
  const updatedReplicas = pods.filter((pod) => podRevision(pod) === updateRevision).length;
  let current = currentRevision;
  if (updatedReplicas === spec.replicas && replicas === spec.replicas && readyReplicas === spec.replicas) {
    current = updateRevision;
    currentReplicas = updatedReplicas;
  }

  const available = availableReplicas >= spec.replicas;
  const previous = (set.status as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] }).conditions?.find(
    (condition) => condition.type === "Available",
  );
  const status = available ? "True" : "False";
  const since = previous?.status === status && previous.lastTransitionTime ? previous.lastTransitionTime : now.toISOString();
  // A rollout held at a partition is done once every pod at or above it runs the new template.
  const partition = spec.updateStrategy.type === "RollingUpdate" ? spec.updateStrategy.rollingUpdate.partition : 0;
  const staged = input.pods.filter((pod) => (ordinalOf(set.name, pod.name) ?? -1) >= partition && podRevision(pod) === updateRevision).length;
  const rolledOut = current === updateRevision || staged >= Math.max(0, spec.replicas - partition) || spec.updateStrategy.type === "OnDelete";
  return {
    observedGeneration: set.generation,
    replicas,
    readyReplicas,
    availableReplicas,
    currentReplicas,
    updatedReplicas,
    currentRevision: current,
    updateRevision,
    conditions: [
      {
        type: "Available",
        status,
        reason: available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
        message: `${availableReplicas} of ${spec.replicas} pods available`,
        lastTransitionTime: since,
      },
    ],
    health: available && replicas === spec.replicas && rolledOut ? "Healthy" : "Progressing",
  };
}
