import type { Toleration } from "../desired/index.ts";
import { preparePod, type Filter, type NodeCheck } from "./framework.ts";
import { nodeAffinityFilter } from "./filters/node-affinity.ts";
import { nodeNameFilter } from "./filters/node-name.ts";
import { nodeReadyFilter } from "./filters/node-ready.ts";
import { nodeUnschedulableFilter } from "./filters/node-unschedulable.ts";
import { runtimeFilter } from "./filters/runtime.ts";
import { taintTolerationFilter } from "./filters/taint-toleration.ts";
import type { NodeInfo, PodToSchedule } from "./model.ts";
import { anyToleratesTaint } from "./tolerations.ts";

/**
 * Which nodes a DaemonSet's pod belongs on: Kubernetes' NodeShouldRunDaemonPod,
 * decided by the scheduler's own filters so that a DaemonSet and a Deployment
 * read nodeSelector, affinity and taints the same way. A DaemonSet does not
 * pick one node among many; it asks every node two questions:
 *
 * - shouldRun: may a new daemon pod be placed here?
 * - shouldContinueRunning: may a daemon pod already here stay?
 *
 * A node that fails a placement rule (nodeName, nodeSelector, required node
 * affinity) answers no to both: the pod was never meant for it. A node that
 * fails an admission rule (not ready, cordoned, no runtime for the image, an
 * untolerated NoSchedule/NoExecute taint) takes no new pod, but keeps the one
 * it has unless one of its NoExecute taints is untolerated — a NoSchedule
 * taint added later does not evict, as in Kubernetes.
 *
 * Resources and host ports are not checked, as Kubernetes' daemon controller
 * does not: a node's daemons are part of what the node is for.
 */

/** Rules about where the pod was meant to go: failing one means the pod must leave. */
const placementFilters: readonly Filter[] = [nodeNameFilter, nodeAffinityFilter];
/** Rules about whether the node takes new pods now: failing one only stops new placements. */
const admissionFilters: readonly Filter[] = [nodeReadyFilter, nodeUnschedulableFilter, runtimeFilter, taintTolerationFilter];

export interface DaemonNodeVerdict {
  shouldRun: boolean;
  shouldContinueRunning: boolean;
  /** The first rule the node failed, in the scheduler's words; absent when shouldRun. */
  reason?: string;
}

/** Each node's verdict for a daemon pod (the template's spec with the default daemon tolerations, see daemonPodTolerations). */
export function daemonNodeVerdicts(pod: PodToSchedule, nodes: readonly NodeInfo[]): Map<string, DaemonNodeVerdict> {
  const prepared = preparePod(pod);
  const prepare = (filters: readonly Filter[]) =>
    filters.map((filter) => filter.prepare(prepared, nodes)).filter((check): check is NodeCheck => check !== undefined);
  const placement = prepare(placementFilters);
  const admission = prepare(admissionFilters);
  const verdicts = new Map<string, DaemonNodeVerdict>();
  for (const node of nodes) {
    const misplaced = firstReason(placement, node);
    if (misplaced !== undefined) {
      verdicts.set(node.name, { shouldRun: false, shouldContinueRunning: false, reason: misplaced });
      continue;
    }
    const refused = firstReason(admission, node);
    if (refused === undefined) {
      verdicts.set(node.name, { shouldRun: true, shouldContinueRunning: true });
      continue;
    }
    const evicting = node.taints.some((taint) => taint.effect === "NoExecute" && !anyToleratesTaint(prepared.tolerations, taint));
    verdicts.set(node.name, { shouldRun: false, shouldContinueRunning: !evicting, reason: refused });
  }
  return verdicts;
}

function firstReason(checks: readonly NodeCheck[], node: NodeInfo): string | undefined {
  for (const check of checks) {
    const reason = check(node);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/**
 * The tolerations Kubernetes adds to every DaemonSet pod
 * (AddOrUpdateDaemonPodTolerations), reduced to the node states capstan
 * models: a daemon is not evicted from a node that is not ready or
 * unreachable (node lifecycle honours these NoExecute tolerations), and it
 * runs on cordoned nodes. A user's toleration for the same key, operator,
 * value and effect is replaced, as Kubernetes does, so that tolerationSeconds
 * cannot make a daemon leave its node.
 */
export const daemonPodTolerations: readonly Toleration[] = [
  { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" },
];

export function withDaemonPodTolerations(tolerations: readonly Toleration[] | undefined): Toleration[] {
  const result = [...(tolerations ?? [])];
  for (const added of daemonPodTolerations) {
    const same = result.findIndex(
      (existing) => existing.key === added.key && existing.operator === added.operator && (existing.value ?? "") === (added.value ?? "") && existing.effect === added.effect,
    );
    if (same === -1) result.push({ ...added });
    else result[same] = { ...added };
  }
  return result;
}
