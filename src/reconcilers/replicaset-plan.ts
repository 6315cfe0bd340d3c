import { createHash } from "node:crypto";
import { z } from "zod";
import type { PodTemplateSpec, ReplicaSetSpec, StoredObject } from "../desired/index.ts";
import { healthStates } from "./health.ts";

/**
 * The ReplicaSet controller's decisions, pure (house style 3): given a
 * ReplicaSet and the pods it owns, which pods to create or delete and what its
 * status is. Kubernetes' pkg/controller/replicaset (manageReplicas,
 * calculateStatus) and controller_utils.go (FilterActivePods, ActivePods).
 */

// ---------------------------------------------------------------- reading pods

/**
 * A pod's status as the node link stores it (nodes/client/node-status.ts
 * storedPodStatus), read leniently: a pod nobody has reported on yet has an
 * empty status and reads as Pending and not ready.
 */
const storedPodStatusSchema = z.object({
  phase: z.enum(["Pending", "Running", "Succeeded", "Failed", "Unknown"]).catch("Pending"),
  ready: z.boolean().catch(false),
  startTime: z.string().nullish().catch(null),
  conditions: z
    .array(z.object({ type: z.string(), status: z.string(), lastTransitionTime: z.string().nullish() }))
    .catch([]),
  containerStatuses: z.array(z.object({ restartCount: z.number().catch(0) })).catch([]),
  initContainerStatuses: z.array(z.object({ restartCount: z.number().catch(0) })).catch([]),
});

export interface PodFacts {
  phase: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
  ready: boolean;
  /**
   * Since when the pod has been ready: the Ready condition's
   * lastTransitionTime when the node link records one, else the pod's
   * startTime. The fallback overstates how long a slow starter has been ready
   * (it counts from process start, not from the first passing readiness
   * probe), so minReadySeconds is only exact once the Ready condition carries
   * its transition time. Null when neither is known.
   */
  readySince: Date | null;
  nodeName: string | null;
  /** The highest restart count of any container, init containers included. */
  restarts: number;
  /** `controller.kubernetes.io/pod-deletion-cost`: lower is deleted first. */
  deletionCost: number;
  terminating: boolean;
}

const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost";

function parseTime(value: string | null | undefined): Date | null {
  if (!value) return null;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? null : time;
}

export function podFacts(pod: StoredObject): PodFacts {
  const status = storedPodStatusSchema.parse(pod.status);
  const readyCondition = status.conditions.find((condition) => condition.type === "Ready");
  const ready = readyCondition ? readyCondition.status === "True" : status.ready;
  const restarts = Math.max(0, ...[...status.containerStatuses, ...status.initContainerStatuses].map((c) => c.restartCount));
  const cost = Number.parseInt(pod.annotations[deletionCostAnnotation] ?? "", 10);
  const nodeName = pod.spec["nodeName"];
  return {
    phase: status.phase,
    ready,
    readySince: ready ? (parseTime(readyCondition?.lastTransitionTime) ?? parseTime(status.startTime)) : null,
    nodeName: typeof nodeName === "string" && nodeName !== "" ? nodeName : null,
    restarts,
    deletionCost: Number.isFinite(cost) ? cost : 0,
    terminating: pod.deletedAt !== null,
  };
}

/** Kubernetes' IsPodActive: counts towards replicas (not finished, not being deleted). */
export function isPodActive(pod: StoredObject): boolean {
  const facts = podFacts(pod);
  return !facts.terminating && facts.phase !== "Succeeded" && facts.phase !== "Failed";
}

/**
 * When a ready pod becomes available (ready for minReadySeconds), or null when
 * it is not ready or its ready time is unknown while minReadySeconds asks for one.
 */
export function podAvailableAt(pod: StoredObject, minReadySeconds: number): Date | null {
  const facts = podFacts(pod);
  if (!facts.ready) return null;
  if (minReadySeconds === 0) return new Date(0);
  if (!facts.readySince) return null;
  return new Date(facts.readySince.getTime() + minReadySeconds * 1000);
}

/** Available at `now` (inclusive, so that a requeue at the exact moment sees it). */
export function isPodAvailable(pod: StoredObject, minReadySeconds: number, now: Date): boolean {
  const at = podAvailableAt(pod, minReadySeconds);
  return at !== null && at.getTime() <= now.getTime();
}

/** Milliseconds until the first ready-but-not-yet-available pod becomes available, if any. */
export function nextAvailabilityInMs(pods: StoredObject[], minReadySeconds: number, now: Date): number | undefined {
  let soonest: number | undefined;
  for (const pod of pods) {
    const at = podAvailableAt(pod, minReadySeconds);
    if (at === null || at.getTime() <= now.getTime() || !isPodActive(pod)) continue;
    const wait = at.getTime() - now.getTime();
    soonest = soonest === undefined ? wait : Math.min(soonest, wait);
  }
  return soonest;
}

// ---------------------------------------------------------------- deletion order

const phaseOrder: Record<PodFacts["phase"], number> = { Pending: 0, Unknown: 1, Running: 2, Succeeded: 3, Failed: 3 };

/**
 * Kubernetes' ActivePodsWithRanks: the pods to delete first sort first.
 * 1. unassigned before assigned; 2. Pending < Unknown < Running;
 * 3. not ready before ready; 4. lower pod-deletion-cost first;
 * 5. more pods of the set on the same node first (spreads what is left);
 * 6. ready more recently first (unknown ready time first);
 * 7. more restarts first; 8. created more recently first.
 * Kubernetes' LogarithmicScaleDown buckets (6, 8) are left out: exact times.
 */
export function compareForDeletion(
  a: { pod: StoredObject; facts: PodFacts; colocated: number },
  b: { pod: StoredObject; facts: PodFacts; colocated: number },
): number {
  const fa = a.facts;
  const fb = b.facts;
  if ((fa.nodeName === null) !== (fb.nodeName === null)) return fa.nodeName === null ? -1 : 1;
  if (phaseOrder[fa.phase] !== phaseOrder[fb.phase]) return phaseOrder[fa.phase] - phaseOrder[fb.phase];
  if (fa.ready !== fb.ready) return fa.ready ? 1 : -1;
  if (fa.deletionCost !== fb.deletionCost) return fa.deletionCost - fb.deletionCost;
  if (a.colocated !== b.colocated) return b.colocated - a.colocated;
  if (fa.ready && fb.ready) {
    const ta = fa.readySince?.getTime() ?? Number.POSITIVE_INFINITY;
    const tb = fb.readySince?.getTime() ?? Number.POSITIVE_INFINITY;
    if (ta !== tb) return tb > ta ? 1 : -1;
  }
  if (fa.restarts !== fb.restarts) return fb.restarts - fa.restarts;
  const ca = a.pod.createdAt.getTime();
  const cb = b.pod.createdAt.getTime();
  if (ca !== cb) return cb - ca;
  return a.pod.name < b.pod.name ? -1 : a.pod.name > b.pod.name ? 1 : 0;
}

/** The active pods in the order they would be deleted. */
export function deletionOrder(pods: StoredObject[]): StoredObject[] {
  const ranked = pods.map((pod) => ({ pod, facts: podFacts(pod), colocated: 0 }));
  const perNode = new Map<string, number>();
  for (const { facts } of ranked) if (facts.nodeName) perNode.set(facts.nodeName, (perNode.get(facts.nodeName) ?? 0) + 1);
  for (const entry of ranked) entry.colocated = entry.facts.nodeName ? perNode.get(entry.facts.nodeName)! : 0;
  return ranked.sort(compareForDeletion).map((entry) => entry.pod);
}

// ---------------------------------------------------------------- pod names

const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"; // Kubernetes' generateName alphabet: no vowels, no look-alikes

/** Five random-looking characters, derived from a seed and an index so that plans are reproducible. */
export function podNameSuffix(seed: string, index: number): string {
  const digest = createHash("sha256").update(`${seed}/${index}`).digest();
  let suffix = "";
  for (let i = 0; i < 5; i++) suffix += nameAlphabet[digest[i]! % nameAlphabet.length];
  return suffix;
}

// ---------------------------------------------------------------- status

export const replicaSetStatusSchema = z.object({
  observedGeneration: z.number().int(),
  /** Active pods: not finished and not being deleted. */
  replicas: z.number().int(),
  /** Active pods carrying every label of the template. */
  fullyLabeledReplicas: z.number().int(),
  readyReplicas: z.number().int(),
  /** Ready for at least minReadySeconds. */
  availableReplicas: z.number().int(),
  health: z.enum(healthStates),
});
export type ReplicaSetStatus = z.infer<typeof replicaSetStatusSchema>;

// ---------------------------------------------------------------- plan

export type ReplicaSetAction =
  | { type: "createPod"; name: string; template: PodTemplateSpec }
  | { type: "deletePod"; name: string; uid: string; reason: "ScaleDown" };

export interface ReplicaSetPlanInput {
  replicaSet: StoredObject;
  /** Live pods owned by the ReplicaSet, including those being deleted and finished ones. */
  pods: StoredObject[];
  now: Date;
  /** Seeds the names of new pods; the reconciler passes something fresh (a random string, the time). */
  nameSeed: string;
}

export interface ReplicaSetPlan {
  actions: ReplicaSetAction[];
  status: ReplicaSetStatus;
  requeueAfterMs?: number;
}

/** At most this many pods are created or deleted per pass, as Kubernetes' burstReplicas. */
export const burstReplicas = 500;

export function planReplicaSet(input: ReplicaSetPlanInput): ReplicaSetPlan {
  const { replicaSet, pods, now } = input;
  const spec = replicaSet.spec as ReplicaSetSpec;
  const active = pods.filter(isPodActive);
  const actions: ReplicaSetAction[] = [];

  if (replicaSet.deletedAt === null) {
    const diff = active.length - spec.replicas;
    if (diff < 0) {
      // Finished and terminating pods keep their names until they are gone, so skip those.
      const taken = new Set(pods.map((pod) => pod.name));
      for (let index = 0; actions.length < Math.min(-diff, burstReplicas); index++) {
        const name = `${replicaSet.name}-${podNameSuffix(input.nameSeed, index)}`;
        if (taken.has(name)) continue;
        taken.add(name);
        actions.push({ type: "createPod", name, template: spec.template });
      }
    } else if (diff > 0) {
      for (const victim of deletionOrder(active).slice(0, Math.min(diff, burstReplicas))) {
        actions.push({ type: "deletePod", name: victim.name, uid: victim.uid, reason: "ScaleDown" });
      }
    }
  }

  const templateLabels = Object.entries(spec.template.metadata.labels);
  const status: ReplicaSetStatus = {
    observedGeneration: replicaSet.generation,
    replicas: active.length,
    fullyLabeledReplicas: active.filter((pod) => templateLabels.every(([key, value]) => pod.labels[key] === value)).length,
    readyReplicas: active.filter((pod) => podFacts(pod).ready).length,
    availableReplicas: active.filter((pod) => isPodAvailable(pod, spec.minReadySeconds, now)).length,
    health: "Progressing",
  };
  if (status.availableReplicas === spec.replicas && status.replicas === spec.replicas) status.health = "Healthy";

  const requeueAfterMs = nextAvailabilityInMs(active, spec.minReadySeconds, now);
  return requeueAfterMs === undefined ? { actions, status } : { actions, status, requeueAfterMs };
}
