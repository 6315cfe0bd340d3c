/**
 * The manifest model: one zod schema per kind. Parsing looks a document's
 * `kind` up with `findKind` and validates it with that kind's `schema`.
 */
import { configMapKind } from "./configmap.ts";
import { cronJobKind } from "./cronjob.ts";
import { daemonSetKind } from "./daemonset.ts";
import { deploymentKind } from "./deployment.ts";
import { horizontalPodAutoscalerKind } from "./horizontalpodautoscaler.ts";
import { jobKind } from "./job.ts";
import { namespaceKind } from "./namespace.ts";
import { nodeKind } from "./node.ts";
import { notifierKind } from "./notifier.ts";
import { persistentVolumeClaimKind } from "./persistentvolumeclaim.ts";
import { podKind } from "./pod-object.ts";
import type { KindDefinition } from "./registry.ts";
import { replicaSetKind } from "./replicaset.ts";
import { secretKind } from "./secret.ts";
import { serviceKind } from "./service.ts";
import { statefulSetKind } from "./statefulset.ts";

export type { KindDefinition } from "./registry.ts";

export const kindDefinitions: readonly KindDefinition[] = [
  namespaceKind,
  nodeKind,
  configMapKind,
  secretKind,
  deploymentKind,
  replicaSetKind,
  podKind,
  daemonSetKind,
  statefulSetKind,
  jobKind,
  cronJobKind,
  serviceKind,
  horizontalPodAutoscalerKind,
  persistentVolumeClaimKind,
  notifierKind,
];

const byKind = new Map(kindDefinitions.map((definition) => [definition.kind, definition]));

/** The definition of a kind by its exact (case-sensitive) name, as Kubernetes matches `kind`. */
export function findKind(kind: string): KindDefinition | undefined {
  return byKind.get(kind);
}

export { configMapKind, type ConfigMap } from "./configmap.ts";
export { cronJobKind, missedRunsAnnotation, missedRunsPolicies, type CronJob, type CronJobSpec, type MissedRunsPolicy } from "./cronjob.ts";
export { daemonSetKind, type DaemonSet, type DaemonSetSpec } from "./daemonset.ts";
export { deploymentKind, type Deployment, type DeploymentSpec } from "./deployment.ts";
export {
  horizontalPodAutoscalerKind,
  scalableKinds,
  type HorizontalPodAutoscaler,
  type HorizontalPodAutoscalerSpec,
  type MetricSpec,
} from "./horizontalpodautoscaler.ts";
export { jobKind, type Job, type JobSpec } from "./job.ts";
export { namespaceKind, type Namespace } from "./namespace.ts";
export { nodeKind, type Node, type NodeSpec } from "./node.ts";
export { podKind, type Pod } from "./pod-object.ts";
export { notifierKind, notifierSpecSchema, notificationEventTypes, type NotificationEventType, type Notifier, type NotifierSpec } from "./notifier.ts";
export {
  persistentVolumeClaimKind,
  reclaimPolicyOf,
  isRelocatable,
  reclaimPolicyAnnotation,
  relocatableAnnotation,
  type PersistentVolumeClaim,
  type PersistentVolumeClaimSpec,
  type ReclaimPolicy,
} from "./persistentvolumeclaim.ts";
export { replicaSetKind, type ReplicaSet, type ReplicaSetSpec } from "./replicaset.ts";
export { mergedSecretData, secretKind, type Secret } from "./secret.ts";
export { serviceKind, type Service, type ServiceSpec } from "./service.ts";
export * from "./endpointslice.ts";
export { statefulSetKind, type StatefulSet, type StatefulSetSpec, type VolumeClaimTemplate } from "./statefulset.ts";

export { podSpecSchema, podTemplateSpecSchema, type PodSpec, type PodTemplateSpec, type RestartPolicy } from "./pod.ts";
export type { Container } from "./container.ts";
export type { Volume } from "./volume.ts";
export type { Probe, Lifecycle } from "./probe.ts";
export type { Affinity, Toleration } from "./affinity.ts";
export { labelSelectorSchema, selectorMatches, type LabelSelector } from "./selector.ts";
export { type IntOrPercent } from "./rollout.ts";
export { cronSchedule, scheduleProblem, standardCronExpression, timeZoneProblem } from "./schedule.ts";
export { parseBytes, parseCpuMillis, parseQuantity, quantitySchema } from "../quantity.ts";
