import type { DaemonSetSpec, PodSpec, StoredObject } from "../desired/index.ts";
import type { DaemonNodeVerdict } from "../scheduler/index.ts";
import type { FailedPodBackoff } from "./daemonset-status.ts";
import { isPodAvailable, podFacts } from "./replicaset-plan.ts";

/**
 * The working state of one DaemonSet plan (daemonset-plan.ts) and the small
 * questions both its halves ask: manage (one pod per node) and the rolling
 * update (daemonset-rollout.ts).
 */

/** The label telling a daemon pod's template apart, as Kubernetes' controller-revision-hash. */
export const daemonRevisionHashLabel = "controller-revision-hash";

export type DaemonSetAction =
  | { type: "createPod"; name: string; node: string; labels: Record<string, string>; annotations: Record<string, string>; spec: PodSpec }
  | { type: "deletePod"; name: string; uid: string; node: string | null; reason: DeleteReason };

/**
 * Failed: the pod failed (FailedDaemonPod); Misscheduled: its node no longer
 * qualifies; NodeGone: its node was removed; Excess: a second pod on one node;
 * Update: replaced by the current template; Unscheduled: bound to no node.
 */
export type DeleteReason = "Failed" | "Succeeded" | "Misscheduled" | "NodeGone" | "Excess" | "Update" | "Unscheduled";

export interface DaemonSetPlanInput {
  /** The DaemonSet, its template carrying the config hash (config-hash.ts). */
  daemonSet: StoredObject;
  nodes: StoredObject[];
  /** Live pods owned by the DaemonSet. */
  pods: StoredObject[];
  now: Date;
  /** Seeds the names of new pods. */
  nameSeed: string;
}

export interface Planning {
  input: DaemonSetPlanInput;
  spec: DaemonSetSpec;
  hash: string;
  now: Date;
  verdicts: Map<string, DaemonNodeVerdict>;
  /** Node names, sorted, so that plans are reproducible (Kubernetes walks a map). */
  nodeNames: string[];
  podsByNode: Map<string, StoredObject[]>;
  creates: string[];
  deletes: Map<string, Extract<DaemonSetAction, { type: "deletePod" }>>;
  backoff: FailedPodBackoff;
  requeueAfterMs: number | undefined;
}

export function isUpdated(p: Planning, pod: StoredObject): boolean {
  return pod.labels[daemonRevisionHashLabel] === p.hash;
}

/** Ready for minReadySeconds at the plan's now. */
export function available(p: Planning, pod: StoredObject): boolean {
  return isPodAvailable(pod, p.spec.minReadySeconds, p.now);
}

/** Deletes a pod once, under the first reason given for it. */
export function remove(p: Planning, pod: StoredObject, reason: DeleteReason): void {
  if (!p.deletes.has(pod.uid)) p.deletes.set(pod.uid, { type: "deletePod", name: pod.name, uid: pod.uid, node: podFacts(pod).nodeName, reason });
}

/** How many nodes should run the daemon pod. */
export function desiredNodes(p: Planning): number {
  return p.nodeNames.filter((node) => p.verdicts.get(node)!.shouldRun).length;
}

export function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((value): value is number => value !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
}
