import type { DaemonSetSpec, StoredObject } from "../desired/index.ts";
import { available, desiredNodes, isUpdated, remove, type Planning } from "./daemonset-planning.ts";
import { scaledValue } from "./deployment-plan.ts";

/**
 * A DaemonSet's RollingUpdate, Kubernetes' pkg/controller/daemon/update.go:
 * it only deletes old pods (and, with surge, asks for new ones beside them);
 * manage in daemonset-plan.ts creates what is missing with the current
 * template. Nodes are walked in name order where Kubernetes walks a map.
 */

/**
 * Kubernetes' SurgeCount and UnavailableCount (both round up for a
 * DaemonSet), with updatedDesiredNodeCounts' rule that a rollout allowed
 * neither may still take one node at a time.
 */
export function fenceposts(spec: DaemonSetSpec, desired: number): { maxSurge: number; maxUnavailable: number } {
  if (spec.updateStrategy.type !== "RollingUpdate") return { maxSurge: 0, maxUnavailable: 0 };
  const { maxSurge, maxUnavailable } = spec.updateStrategy.rollingUpdate;
  const surge = scaledValue(maxSurge, desired, true);
  let unavailable = scaledValue(maxUnavailable, desired, true);
  if (desired > 0 && surge === 0 && unavailable === 0) unavailable = 1;
  return { maxSurge: surge, maxUnavailable: unavailable };
}

/** Kubernetes' AllowsSurge: whether two pods may share a node during a rollout (a percentage counts as at least one). */
export function allowsSurge(spec: DaemonSetSpec): boolean {
  return spec.updateStrategy.type === "RollingUpdate" && scaledValue(spec.updateStrategy.rollingUpdate.maxSurge, 1, true) > 0;
}

/** The nodes a rollout looks at: those with daemon pods, and those that should have one (updatedDesiredNodeCounts). */
function rolloutNodes(p: Planning): { node: string; pods: StoredObject[] }[] {
  return p.nodeNames
    .filter((node) => p.podsByNode.has(node) || p.verdicts.get(node)!.shouldRun)
    .map((node) => ({ node, pods: p.podsByNode.get(node) ?? [] }));
}

/** findUpdatedPodsOnNode: the node's pod of the current template and its older one; undefined when either is doubled. */
function updatedAndOld(p: Planning, pods: StoredObject[]): { newPod?: StoredObject; oldPod?: StoredObject } | undefined {
  let newPod: StoredObject | undefined;
  let oldPod: StoredObject | undefined;
  for (const pod of pods) {
    if (isUpdated(p, pod)) {
      if (newPod) return undefined;
      newPod = pod;
    } else {
      if (oldPod) return undefined;
      oldPod = pod;
    }
  }
  return { newPod, oldPod };
}

/**
 * Without surge: delete just enough old pods to stay within maxUnavailable
 * nodes without an available pod (old pods that are not available anyway go
 * first, and do not count); manage recreates them with the current template.
 */
export function rollingUpdate(p: Planning, maxUnavailable: number): void {
  let unavailable = 0;
  const replacements: StoredObject[] = [];
  const candidates: StoredObject[] = [];
  for (const { pods } of rolloutNodes(p)) {
    const found = updatedAndOld(p, pods);
    if (!found) {
      unavailable++; // manage is pruning this node
      continue;
    }
    const { newPod, oldPod } = found;
    if ((!oldPod && !newPod) || (oldPod && newPod)) unavailable++;
    else if (newPod) {
      if (!available(p, newPod)) unavailable++;
    } else if (!available(p, oldPod!)) replacements.push(oldPod!);
    else if (unavailable < maxUnavailable) candidates.push(oldPod!);
  }
  const room = Math.min(Math.max(0, maxUnavailable - unavailable), candidates.length);
  for (const pod of [...replacements, ...candidates.slice(0, room)]) remove(p, pod, "Update");
}

/**
 * With surge: a node with an old pod first gets a new pod beside it (at once
 * when the old one is not available, else within maxSurge), and the old pod
 * goes when the new one is available. Old pods on nodes that no longer
 * qualify go only while enough pods elsewhere are available.
 */
export function rollingUpdateWithSurge(p: Planning, maxSurge: number): void {
  let surging = 0;
  let availableNodes = 0;
  const allowedNewNodes: string[] = [];
  const candidateNewNodes: string[] = [];
  const shouldNotRun: StoredObject[] = [];
  for (const { node, pods } of rolloutNodes(p)) {
    const found = updatedAndOld(p, pods);
    if (!found) {
      surging++;
      continue;
    }
    const { newPod, oldPod } = found;
    const current = oldPod ?? newPod;
    if (current && available(p, current)) availableNodes++;
    if (!oldPod) continue;
    if (!newPod) {
      const shouldRun = p.verdicts.get(node)!.shouldRun;
      if (!available(p, oldPod)) {
        if (shouldRun) allowedNewNodes.push(node);
        else remove(p, oldPod, "Update");
      } else if (!shouldRun) shouldNotRun.push(oldPod);
      else if (surging < maxSurge) candidateNewNodes.push(node);
    } else if (!available(p, newPod)) surging++;
    else remove(p, oldPod, "Update");
  }
  // With surge the owner expects full availability: a pod on a node that no longer qualifies goes only when others make up for it.
  const deletable = Math.min(Math.max(0, availableNodes - desiredNodes(p)), shouldNotRun.length);
  for (const pod of shouldNotRun.slice(0, deletable)) remove(p, pod, "Misscheduled");
  const room = Math.min(Math.max(0, maxSurge - surging), candidateNewNodes.length);
  for (const node of [...allowedNewNodes, ...candidateNewNodes.slice(0, room)]) if (!p.creates.includes(node)) p.creates.push(node);
}
