import type { Toleration } from "../desired/index.ts";
import type { Taint } from "./model.ts";

/** Whether a toleration tolerates a taint (Kubernetes' Toleration.ToleratesTaint). */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== taint.effect) return false;
  // An empty key with operator Exists tolerates every taint.
  if (toleration.key !== undefined && toleration.key !== taint.key) return false;
  if (toleration.operator === "Exists") return true;
  return (toleration.value ?? "") === (taint.value ?? "");
}

export function anyToleratesTaint(tolerations: readonly Toleration[], taint: Taint): boolean {
  for (const toleration of tolerations) {
    if (toleratesTaint(toleration, taint)) return true;
  }
  return false;
}

/**
 * Kubernetes marks a not-ready or cordoned node with these taints and lets the
 * pods that tolerate them (DaemonSet pods, typically) be placed there anyway.
 * capstan keeps the conditions as node fields, and checks the taints the
 * fields stand for.
 */
export const notReadyTaint: Taint = { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" };
export const unschedulableTaint: Taint = { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" };
