import type { PodSpec, StoredObject } from "../desired/index.ts";
import { toleratesTaint } from "../scheduler/index.ts";

/**
 * Eviction from a node that stopped answering (the Kubernetes node lifecycle
 * controller with taint-based eviction, reduced to its decision): once the
 * node's Ready condition has been other than True for the grace period, each
 * of its pods is evicted, unless it tolerates the node.kubernetes.io/
 * not-ready (Ready=False) or unreachable (Ready=Unknown) NoExecute taint, and
 * then only after its tolerationSeconds. An evicted pod is deleted, so its
 * owner makes a replacement that the scheduler puts on a healthy node; when
 * the node returns, its agent is sent the set without the evicted pods and
 * stops them first (fencing).
 */
export interface EvictionPlan {
  evict: { pod: StoredObject; reason: string }[];
  /** When to look again (the next pod's toleration runs out); undefined when nothing is pending. */
  requeueAfterMs?: number;
}

export function planEvictions(node: StoredObject, pods: StoredObject[], now: Date, graceMs: number, otherReadyNodes: number): EvictionPlan {
  const ready = readyCondition(node);
  if (!ready || ready.status === "True" || !ready.lastTransitionTime) return { evict: [] };
  // Not evidence against the node: this control plane has not tried it yet (it just started).
  if (ready.reason === "NodeStatusUnknown") return { evict: [] };
  // No healthy node to move to: the fault is more likely on this side (the control plane's network), and
  // evicting would only stop pods that nothing can replace (Kubernetes' "full disruption" mode does the same).
  if (otherReadyNodes === 0) return { evict: [], requeueAfterMs: graceMs };
  const since = Date.parse(ready.lastTransitionTime);
  const taint = {
    key: ready.status === "False" ? "node.kubernetes.io/not-ready" : "node.kubernetes.io/unreachable",
    effect: "NoExecute" as const,
  };
  const evict: EvictionPlan["evict"] = [];
  let next: number | undefined;
  for (const pod of pods) {
    const spec = pod.spec as PodSpec;
    if (spec.nodeName !== node.name) continue;
    const toleration = (spec.tolerations ?? []).find((candidate) => toleratesTaint(candidate, taint));
    if (toleration && toleration.tolerationSeconds === undefined) continue; // tolerates it for ever
    const allowedMs = toleration ? Math.max(0, toleration.tolerationSeconds!) * 1000 : graceMs;
    const dueAt = since + allowedMs;
    if (now.getTime() >= dueAt) {
      evict.push({ pod, reason: `node ${node.name} has been ${ready.status === "False" ? "not ready" : "unreachable"} since ${ready.lastTransitionTime}` });
    } else {
      next = Math.min(next ?? Number.POSITIVE_INFINITY, dueAt - now.getTime());
    }
  }
  return next === undefined ? { evict } : { evict, requeueAfterMs: next };
}

export function readyCondition(node: StoredObject): { status: string; reason?: string; lastTransitionTime?: string } | undefined {
  return (node.status as { conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[] }).conditions?.find(
    (condition) => condition.type === "Ready",
  );
}
