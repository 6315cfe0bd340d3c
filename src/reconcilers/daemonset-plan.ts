import type { DaemonSetSpec, PodSpec, StoredObject } from "../desired/index.ts";
import { commitAnnotation } from "../nodes/index.ts";
import { daemonNodeVerdicts, withDaemonPodTolerations } from "../scheduler/index.ts";
import { buildSnapshot } from "./cluster-snapshot.ts";
import {
  available,
  daemonRevisionHashLabel,
  desiredNodes,
  isUpdated,
  minDefined,
  remove,
  type DaemonSetAction,
  type DaemonSetPlanInput,
  type Planning,
} from "./daemonset-planning.ts";
import { allowsSurge, fenceposts, rollingUpdate, rollingUpdateWithSurge } from "./daemonset-rollout.ts";
import { daemonSetConditionsAndHealth, previousDaemonSetStatus, type DaemonSetCounts, type DaemonSetStatus, type FailedPodBackoff } from "./daemonset-status.ts";
import { podTemplateHash } from "./pod-template-hash.ts";
import { nextAvailabilityInMs, podFacts, podNameSuffix } from "./replicaset-plan.ts";

export { daemonRevisionHashLabel, type DaemonSetAction, type DaemonSetPlanInput, type DeleteReason } from "./daemonset-planning.ts";
export { fenceposts } from "./daemonset-rollout.ts";

/**
 * The DaemonSet controller's decisions, pure (house style 3): given a
 * DaemonSet, the nodes and its pods, which pods to create (already bound to
 * their node) or delete, and its status. Kubernetes' pkg/controller/daemon
 * (daemon_controller.go: manage, podsShouldBeOnNode, updateDaemonSetStatus;
 * update.go: rollingUpdate), step for step where capstan has the concept.
 * Which nodes qualify is the scheduler's answer (daemonNodeVerdicts).
 */

/** Kubernetes' burstReplicas for DaemonSets: at most this many creations and as many deletions per pass. */
export const daemonBurst = 250;

/** Kubernetes' failedPodsBackoff: 1 s doubling to 15 min between deletions of failed pods on one node. */
export const failedPodBackoffInitialMs = 1_000;
export const failedPodBackoffMaxMs = 15 * 60_000;

export interface DaemonSetPlan {
  actions: DaemonSetAction[];
  status: DaemonSetStatus;
  requeueAfterMs?: number;
}

export function planDaemonSet(input: DaemonSetPlanInput): DaemonSetPlan {
  const { daemonSet, now } = input;
  const spec = daemonSet.spec as DaemonSetSpec;
  const previous = previousDaemonSetStatus(daemonSet.status);
  const daemonPod = { namespace: daemonSet.namespace, name: daemonSet.name, labels: spec.template.metadata.labels, ownerUid: daemonSet.uid, spec: daemonPodSpec(spec) };
  const nodeInfos = buildSnapshot(input.nodes, [], now.getTime()).nodes;
  const p: Planning = {
    input,
    spec,
    hash: podTemplateHash(spec.template),
    now,
    verdicts: daemonNodeVerdicts(daemonPod, nodeInfos),
    nodeNames: nodeInfos.map((node) => node.name).sort(),
    podsByNode: podsByNode(input.pods),
    creates: [],
    deletes: new Map(),
    backoff: pruneBackoff(previous.failedPodBackoff, now),
    requeueAfterMs: undefined,
  };
  const { maxSurge, maxUnavailable } = fenceposts(spec, desiredNodes(p));

  if (daemonSet.deletedAt === null) {
    manage(p, allowsSurge(spec));
    if (spec.updateStrategy.type === "RollingUpdate") {
      if (maxSurge > 0) rollingUpdateWithSurge(p, maxSurge);
      else rollingUpdate(p, maxUnavailable);
    }
  }

  const counts = countNodes(p);
  const { conditions, health } = daemonSetConditionsAndHealth(daemonSet.name, spec, counts, maxUnavailable, previous.conditions, now);
  const status: DaemonSetStatus = {
    observedGeneration: daemonSet.generation,
    ...counts,
    currentRevisionHash: p.hash,
    conditions,
    health,
    failedPodBackoff: p.backoff,
  };
  const requeueAfterMs = minDefined(p.requeueAfterMs, nextAvailabilityInMs(input.pods, spec.minReadySeconds, now));
  const actions = [...createActions(p), ...[...p.deletes.values()].slice(0, daemonBurst)];
  return requeueAfterMs === undefined ? { actions, status } : { actions, status, requeueAfterMs };
}

// ---------------------------------------------------------------- the daemon pod

/** The template's spec as every daemon pod runs it: with the default daemon tolerations (see withDaemonPodTolerations). */
function daemonPodSpec(spec: DaemonSetSpec): PodSpec {
  return { ...spec.template.spec, tolerations: withDaemonPodTolerations(spec.template.spec.tolerations) };
}

function createActions(p: Planning): DaemonSetAction[] {
  const { daemonSet, pods, nameSeed } = p.input;
  const template = p.spec.template;
  const taken = new Set(pods.map((pod) => pod.name));
  // The commit whose template this is: a pod already running the same template knows it; else the DaemonSet's own commit.
  const sameTemplate = pods.find((pod) => pod.labels[daemonRevisionHashLabel] === p.hash && pod.annotations[commitAnnotation]);
  const commit = sameTemplate?.annotations[commitAnnotation] ?? daemonSet.revisionSha;
  const actions: DaemonSetAction[] = [];
  let index = 0;
  for (const node of p.creates.slice(0, daemonBurst)) {
    let name: string;
    do name = `${daemonSet.name}-${podNameSuffix(nameSeed, index++)}`;
    while (taken.has(name));
    taken.add(name);
    actions.push({
      type: "createPod",
      name,
      node,
      labels: { ...template.metadata.labels, [daemonRevisionHashLabel]: p.hash },
      annotations: { ...template.metadata.annotations, ...(commit ? { [commitAnnotation]: commit } : {}) },
      // Bound at birth: the scheduler leaves a pod with a nodeName alone.
      spec: { ...daemonPodSpec(p.spec), nodeName: node },
    });
  }
  return actions;
}

function podsByNode(pods: StoredObject[]): Map<string, StoredObject[]> {
  const byNode = new Map<string, StoredObject[]>();
  for (const pod of pods) {
    const node = podFacts(pod).nodeName ?? "";
    byNode.set(node, [...(byNode.get(node) ?? []), pod]);
  }
  // Kubernetes' podByCreationTimestampAndPhase: oldest first, then by name.
  for (const list of byNode.values()) list.sort(byCreation);
  return byNode;
}

function byCreation(a: StoredObject, b: StoredObject): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

// ---------------------------------------------------------------- manage: one pod per node

/** manage and podsShouldBeOnNode: create where missing, delete what must go, one pod per node (two while surging). */
function manage(p: Planning, surging: boolean): void {
  for (const node of p.nodeNames) {
    const { shouldRun, shouldContinueRunning } = p.verdicts.get(node)!;
    const daemonPods = p.podsByNode.get(node) ?? [];
    if (shouldRun && daemonPods.length === 0) {
      p.creates.push(node);
    } else if (shouldContinueRunning) {
      const fates = daemonPods.map((pod) => ({ pod, fate: settleFinished(p, node, pod) }));
      const running = fates.filter(({ fate }) => fate === "running").map(({ pod }) => pod);
      if (!surging) {
        // More than one: keep the oldest.
        for (const pod of running.slice(1)) remove(p, pod, "Excess");
      } else if (running.length === 0) {
        // Kubernetes creates here even beside a failed pod its back-off keeps, so a daemon that fails at once
        // would be created on every pass; capstan waits for the failed pod to go, as without surge.
        if (shouldRun && !fates.some(({ fate }) => fate === "held")) p.creates.push(node);
      } else if (running.length > 1) {
        keepOldestNewAndOld(p, running);
      }
    } else {
      for (const pod of daemonPods) remove(p, pod, "Misscheduled");
    }
  }
  // Pods on nodes that are gone, or on none: Kubernetes leaves the first to its pod garbage collector; capstan's only deletes what the scheduler bound.
  for (const [node, pods] of p.podsByNode) {
    if (p.verdicts.has(node)) continue;
    for (const pod of pods) remove(p, pod, node === "" ? "Unscheduled" : "NodeGone");
  }
}

/**
 * A failed pod is deleted so that the next pass makes a new one, at most as
 * often as the node's back-off allows (a daemon the node keeps rejecting
 * would otherwise be recreated in a hot loop): "held" while it waits. A
 * succeeded one is deleted at once.
 */
function settleFinished(p: Planning, node: string, pod: StoredObject): "running" | "deleted" | "held" {
  const phase = podFacts(pod).phase;
  if (phase === "Succeeded") {
    remove(p, pod, "Succeeded");
    return "deleted";
  }
  if (phase !== "Failed") return "running";
  const entry = p.backoff[node];
  const now = p.now.getTime();
  if (entry) {
    const waitMs = Date.parse(entry.lastAt) + entry.delayMs - now;
    if (waitMs > 0) {
      p.requeueAfterMs = minDefined(p.requeueAfterMs, waitMs);
      return "held";
    }
  }
  p.backoff[node] = {
    delayMs: entry ? Math.min(entry.delayMs * 2, failedPodBackoffMaxMs) : failedPodBackoffInitialMs,
    lastAt: p.now.toISOString(),
  };
  remove(p, pod, "Failed");
  return "deleted";
}

/** flowcontrol.Backoff's expiry: a node quiet for twice the longest back-off starts again from the shortest. */
function pruneBackoff(backoff: FailedPodBackoff, now: Date): FailedPodBackoff {
  return Object.fromEntries(Object.entries(backoff).filter(([, entry]) => now.getTime() - Date.parse(entry.lastAt) <= 2 * failedPodBackoffMaxMs));
}

/**
 * While surging, two pods may share a node only as the oldest of the current
 * template and the oldest of an older one; the old one goes once it is not
 * ready or the new one is available. Every other pod goes at once.
 */
function keepOldestNewAndOld(p: Planning, running: StoredObject[]): void {
  let oldestNew: StoredObject | undefined;
  let oldestOld: StoredObject | undefined;
  for (const pod of running) {
    if (isUpdated(p, pod) && !oldestNew) oldestNew = pod;
    else if (!isUpdated(p, pod) && !oldestOld) oldestOld = pod;
    else remove(p, pod, "Excess");
  }
  if (oldestNew && oldestOld && (!podFacts(oldestOld).ready || available(p, oldestNew))) remove(p, oldestOld, "Update");
}

// ---------------------------------------------------------------- status

/** updateDaemonSetStatus: each node counted once, by its oldest daemon pod. */
function countNodes(p: Planning): DaemonSetCounts {
  const counts = {
    desiredNumberScheduled: 0,
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    numberReady: 0,
    numberAvailable: 0,
    numberUnavailable: 0,
    updatedNumberScheduled: 0,
  };
  for (const node of p.nodeNames) {
    const oldest = p.podsByNode.get(node)?.[0];
    if (!p.verdicts.get(node)!.shouldRun) {
      if (oldest) counts.numberMisscheduled++;
      continue;
    }
    counts.desiredNumberScheduled++;
    if (!oldest) continue;
    counts.currentNumberScheduled++;
    if (podFacts(oldest).ready) {
      counts.numberReady++;
      if (available(p, oldest)) counts.numberAvailable++;
    }
    if (isUpdated(p, oldest)) counts.updatedNumberScheduled++;
  }
  counts.numberUnavailable = counts.desiredNumberScheduled - counts.numberAvailable;
  return counts;
}

