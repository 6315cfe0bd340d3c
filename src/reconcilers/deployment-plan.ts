import { z } from "zod";
import { canonicalJson } from "../desired/index.ts";
import type { DeploymentSpec, IntOrPercent, PodTemplateSpec, ReplicaSetSpec, StoredObject } from "../desired/index.ts";
import { type Health, healthStates } from "./health.ts";
import { podTemplateHash, podTemplateHashLabel, replicaSetName } from "./pod-template-hash.ts";
import { isPodActive, isPodAvailable, nextAvailabilityInMs, podFacts } from "./replicaset-plan.ts";

/**
 * The Deployment controller's decisions, pure (house style 3): given a
 * Deployment, its ReplicaSets and their pods, which ReplicaSets to create,
 * scale, re-number or delete, and the Deployment's status. Kubernetes'
 * pkg/controller/deployment (sync.go, rolling.go, recreate.go, progress.go)
 * and util/deployment_util.go, step for step where capstan has the concept.
 *
 * Counts come from the pods themselves rather than from the ReplicaSets'
 * status (Kubernetes reads rs.status.availableReplicas), so a plan never waits
 * for a ReplicaSet controller pass to see a pod turn available.
 */

export const revisionAnnotation = "deployment.kubernetes.io/revision";

// ---------------------------------------------------------------- actions

export type DeploymentAction =
  | {
      type: "createReplicaSet";
      name: string;
      /** The template's labels with the pod-template-hash label. */
      labels: Record<string, string>;
      annotations: Record<string, string>;
      /** Template and selector both carry the pod-template-hash label. */
      spec: ReplicaSetSpec;
    }
  | { type: "scaleReplicaSet"; name: string; uid: string; replicas: number; from: number }
  /** An existing ReplicaSet becomes the new one again (a rollback): it takes the next revision. */
  | { type: "setRevision"; name: string; uid: string; revision: number }
  /** The Deployment's minReadySeconds changed: the template (and so the ReplicaSet) did not. */
  | { type: "setMinReadySeconds"; name: string; uid: string; minReadySeconds: number }
  /** History beyond revisionHistoryLimit: only ReplicaSets scaled to 0 whose pods are gone. */
  | { type: "deleteReplicaSet"; name: string; uid: string; revision: number };

// ---------------------------------------------------------------- status

const conditionTimestamp = z.string();

export const deploymentConditionSchema = z.object({
  type: z.enum(["Available", "Progressing"]),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string(),
  message: z.string(),
  /** When the condition last changed reason or, for Progressing, last saw progress: the progress deadline counts from here. */
  lastUpdateTime: conditionTimestamp,
  lastTransitionTime: conditionTimestamp,
});
export type DeploymentCondition = z.infer<typeof deploymentConditionSchema>;

export const deploymentStatusSchema = z.object({
  observedGeneration: z.number().int(),
  /** Active pods of every ReplicaSet. */
  replicas: z.number().int(),
  /** Active pods of the new ReplicaSet (the current template). */
  updatedReplicas: z.number().int(),
  readyReplicas: z.number().int(),
  availableReplicas: z.number().int(),
  /** Pods the ReplicaSets want that are not available (0 at least). */
  unavailableReplicas: z.number().int(),
  /** Bumped when the hashed ReplicaSet name is taken by another template (Kubernetes' collisionCount). */
  collisionCount: z.number().int(),
  /** The new ReplicaSet's revision; absent until it exists. */
  revision: z.number().int().optional(),
  conditions: z.array(deploymentConditionSchema),
  health: z.enum(healthStates),
});
export type DeploymentStatus = z.infer<typeof deploymentStatusSchema>;

/** The previous status, read leniently: a field that is missing or malformed counts as never written. */
const previousStatusSchema = z.object({
  replicas: z.number().int().catch(0),
  updatedReplicas: z.number().int().catch(0),
  readyReplicas: z.number().int().catch(0),
  availableReplicas: z.number().int().catch(0),
  collisionCount: z.number().int().catch(0),
  conditions: z.array(z.unknown()).catch([]),
});

export const progressingReasons = {
  created: "NewReplicaSetCreated",
  found: "FoundNewReplicaSet",
  updated: "ReplicaSetUpdated",
  complete: "NewReplicaSetAvailable",
  timedOut: "ProgressDeadlineExceeded",
  paused: "DeploymentPaused",
  resumed: "DeploymentResumed",
} as const;

// ---------------------------------------------------------------- max surge / max unavailable

/** Kubernetes' GetScaledValueFromIntOrPercent, in integers so that 25% of 4 is exactly 1. */
export function scaledValue(value: IntOrPercent, total: number, roundUp: boolean): number {
  if (typeof value === "number") return value;
  const percent = Number.parseInt(value, 10);
  return roundUp ? Math.ceil((percent * total) / 100) : Math.floor((percent * total) / 100);
}

/**
 * Kubernetes' ResolveFenceposts plus MaxUnavailable's clamp: surge rounds up,
 * unavailable rounds down, and when both resolve to 0 (5% of 10) unavailable
 * becomes 1 so the rollout can move. Recreate has neither.
 */
export function resolveFenceposts(spec: DeploymentSpec): { maxSurge: number; maxUnavailable: number } {
  if (spec.strategy.type !== "RollingUpdate") return { maxSurge: 0, maxUnavailable: 0 };
  const { maxSurge, maxUnavailable } = spec.strategy.rollingUpdate;
  const surge = scaledValue(maxSurge, spec.replicas, true);
  let unavailable = scaledValue(maxUnavailable, spec.replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { maxSurge: surge, maxUnavailable: spec.replicas === 0 ? 0 : Math.min(unavailable, spec.replicas) };
}

// ---------------------------------------------------------------- the plan

export interface DeploymentPlanInput {
  deployment: StoredObject;
  /** Live ReplicaSets owned by the Deployment. */
  replicaSets: StoredObject[];
  /** Live pods owned by those ReplicaSets, including finished and terminating ones. */
  pods: StoredObject[];
  now: Date;
}

export interface DeploymentPlan {
  actions: DeploymentAction[];
  status: DeploymentStatus;
  /** Look again then: a progress deadline falls due or a pod becomes available after minReadySeconds. */
  requeueAfterMs?: number;
}

/** One ReplicaSet as the plan sees it; `replicas` follows the plan's own scaling. */
interface ReplicaSetView {
  name: string;
  /** Null for the ReplicaSet this plan creates. */
  uid: string | null;
  createdAt: Date;
  revision: number;
  replicas: number;
  minReadySeconds: number;
  template: PodTemplateSpec;
  generation: number;
  observedGeneration: number;
  deleting: boolean;
  pods: StoredObject[];
  activePods: StoredObject[];
  available: number;
}

interface Planning {
  name: string;
  spec: DeploymentSpec;
  now: Date;
  fenceposts: { maxSurge: number; maxUnavailable: number };
  actions: DeploymentAction[];
  conditions: DeploymentCondition[];
  collisionCount: number;
  all: ReplicaSetView[];
  newRS: ReplicaSetView | null;
  /** Every ReplicaSet but the new one, oldest first. */
  oldRSs: ReplicaSetView[];
}

export function planDeployment(input: DeploymentPlanInput): DeploymentPlan {
  const { deployment, now } = input;
  const spec = deployment.spec as DeploymentSpec;
  const previous = previousStatusSchema.parse(deployment.status);
  const all = input.replicaSets.map((rs) => viewOf(rs, input.pods, spec.minReadySeconds, now)).sort(byCreation);
  const templateKey = templateIdentity(spec.template);
  const newRS = all.find((rs) => !rs.deleting && templateIdentity(rs.template) === templateKey) ?? null;
  const p: Planning = {
    name: deployment.name,
    spec,
    now,
    fenceposts: resolveFenceposts(spec),
    actions: [],
    conditions: previous.conditions.flatMap((condition) => {
      const parsed = deploymentConditionSchema.safeParse(condition);
      return parsed.success ? [parsed.data] : [];
    }),
    collisionCount: previous.collisionCount,
    all,
    newRS,
    oldRSs: all.filter((rs) => rs !== newRS),
  };

  if (deployment.deletedAt === null) {
    syncPausedCondition(p);
    syncRevision(p);
    if (spec.paused) scalePaused(p);
    else if (spec.strategy.type === "Recreate") rolloutRecreate(p);
    else rolloutRolling(p);
  }

  const counts = countReplicas(p);
  if (deployment.deletedAt === null && (spec.paused || isComplete(spec, counts))) cleanupHistory(p);
  const status = finishStatus(p, counts, previous, deployment.generation);
  const requeueAfterMs = minDefined(
    deadlineInMs(p, counts),
    nextAvailabilityInMs(input.pods, spec.minReadySeconds, now),
  );
  return requeueAfterMs === undefined ? { actions: p.actions, status } : { actions: p.actions, status, requeueAfterMs };
}

// ---------------------------------------------------------------- ReplicaSets

function viewOf(rs: StoredObject, pods: StoredObject[], minReadySeconds: number, now: Date): ReplicaSetView {
  const spec = rs.spec as ReplicaSetSpec;
  const owned = pods.filter((pod) => pod.ownerUid === rs.uid);
  const activePods = owned.filter(isPodActive);
  const statusObserved = rs.status["observedGeneration"];
  return {
    name: rs.name,
    uid: rs.uid,
    createdAt: rs.createdAt,
    revision: revisionOf(rs),
    replicas: spec.replicas,
    minReadySeconds: spec.minReadySeconds,
    template: spec.template,
    generation: rs.generation,
    observedGeneration: Math.max(rs.observedGeneration, typeof statusObserved === "number" ? statusObserved : 0),
    deleting: rs.deletedAt !== null,
    pods: owned,
    activePods,
    available: activePods.filter((pod) => isPodAvailable(pod, minReadySeconds, now)).length,
  };
}

function revisionOf(rs: StoredObject): number {
  const revision = Number.parseInt(rs.annotations[revisionAnnotation] ?? "", 10);
  return Number.isFinite(revision) && revision > 0 ? revision : 0;
}

/** Oldest first; the name settles ties so that plans are deterministic. */
function byCreation(a: ReplicaSetView, b: ReplicaSetView): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Templates compared as Kubernetes' EqualIgnoreHash: the hash label is the ReplicaSet's, not the template's. */
function templateIdentity(template: PodTemplateSpec): string {
  const { [podTemplateHashLabel]: _hash, ...labels } = template.metadata.labels;
  return canonicalJson({ ...template, metadata: { ...template.metadata, labels } });
}

function sum(views: ReplicaSetView[], count: (rs: ReplicaSetView) => number): number {
  return views.reduce((total, rs) => total + count(rs), 0);
}

function scale(p: Planning, rs: ReplicaSetView, replicas: number): void {
  if (rs.replicas === replicas) return;
  if (rs.uid === null) {
    // Created by this very plan: create it at the right size instead.
    for (const action of p.actions) if (action.type === "createReplicaSet" && action.name === rs.name) action.spec.replicas = replicas;
  } else {
    p.actions.push({ type: "scaleReplicaSet", name: rs.name, uid: rs.uid, replicas, from: rs.replicas });
  }
  rs.replicas = replicas;
}

/**
 * Kubernetes' getNewReplicaSet without creation: the new ReplicaSet takes the
 * revision after every old one's (a rollback to a kept template re-uses its
 * ReplicaSet and so bumps its revision) and follows minReadySeconds.
 */
function syncRevision(p: Planning): void {
  const rs = p.newRS;
  if (!rs || rs.uid === null) return;
  const revision = Math.max(0, ...p.oldRSs.map((old) => old.revision)) + 1;
  if (rs.revision < revision) {
    p.actions.push({ type: "setRevision", name: rs.name, uid: rs.uid, revision });
    rs.revision = revision;
    // Kubernetes only notes FoundNewReplicaSet when no Progressing condition exists; a rollback to
    // a kept ReplicaSet is a new rollout too, so capstan restarts the progress clock here as well
    // (a paused Deployment's clock restarts when it resumes).
    if (!p.spec.paused) touchProgressing(p, "True", progressingReasons.found, `Found new replica set "${rs.name}"`);
  } else if (!findCondition(p.conditions, "Progressing")) {
    touchProgressing(p, "True", progressingReasons.found, `Found new replica set "${rs.name}"`);
  }
  if (rs.minReadySeconds !== p.spec.minReadySeconds) {
    p.actions.push({ type: "setMinReadySeconds", name: rs.name, uid: rs.uid, minReadySeconds: p.spec.minReadySeconds });
    rs.minReadySeconds = p.spec.minReadySeconds;
  }
}

/** Kubernetes' getNewReplicaSet with creation: named by the template hash, counting collisions up. */
function createNewReplicaSet(p: Planning, replicas: number): ReplicaSetView {
  let hash = podTemplateHash(p.spec.template, p.collisionCount);
  while (p.all.some((rs) => rs.name === replicaSetName(p.name, hash))) {
    p.collisionCount += 1;
    hash = podTemplateHash(p.spec.template, p.collisionCount);
  }
  const name = replicaSetName(p.name, hash);
  const revision = Math.max(0, ...p.all.map((rs) => rs.revision)) + 1;
  const labels = { ...p.spec.template.metadata.labels, [podTemplateHashLabel]: hash };
  const template: PodTemplateSpec = { ...p.spec.template, metadata: { ...p.spec.template.metadata, labels } };
  const selector = { ...p.spec.selector, matchLabels: { ...p.spec.selector.matchLabels, [podTemplateHashLabel]: hash } };
  p.actions.push({
    type: "createReplicaSet",
    name,
    labels,
    annotations: { [revisionAnnotation]: String(revision) },
    spec: { replicas, selector, template, minReadySeconds: p.spec.minReadySeconds },
  });
  const rs: ReplicaSetView = {
    name,
    uid: null,
    createdAt: p.now,
    revision,
    replicas,
    minReadySeconds: p.spec.minReadySeconds,
    template,
    generation: 1,
    observedGeneration: 0,
    deleting: false,
    pods: [],
    activePods: [],
    available: 0,
  };
  p.all.push(rs);
  p.newRS = rs;
  touchProgressing(p, "True", progressingReasons.created, `Created new replica set "${name}"`);
  return rs;
}

// ---------------------------------------------------------------- strategies

/**
 * Kubernetes' NewRSNewReplicas for RollingUpdate: grow the new set as far as
 * the surge allows. A set counts with the pods it still has when they outnumber
 * its target: an old set scaled down whose surplus its controller has not yet
 * deleted (a control plane killed in between, or just a pass behind) still runs
 * them, and counting only targets let new pods start beside them, past the surge.
 */
function newReplicaSetTarget(p: Planning): number {
  const current = p.newRS?.replicas ?? 0;
  const maxTotal = p.spec.replicas + p.fenceposts.maxSurge;
  const total = sum(p.all, (rs) => Math.max(rs.replicas, rs.activePods.length));
  if (total >= maxTotal) return current;
  return current + Math.min(maxTotal - total, p.spec.replicas - current);
}

/** rolling.go: scale the new set up within the surge; only when it cannot move, scale old sets down. */
function rolloutRolling(p: Planning): void {
  const newRS = p.newRS ?? createNewReplicaSet(p, newReplicaSetTarget(p));
  if (newRS.replicas !== p.spec.replicas) {
    const target = newRS.replicas > p.spec.replicas ? p.spec.replicas : newReplicaSetTarget(p);
    if (target !== newRS.replicas) {
      scale(p, newRS, target);
      return;
    }
  }
  reconcileOldReplicaSets(p, newRS);
}

function reconcileOldReplicaSets(p: Planning, newRS: ReplicaSetView): void {
  if (sum(p.oldRSs, (rs) => rs.replicas) === 0) return;
  const minAvailable = p.spec.replicas - p.fenceposts.maxUnavailable;
  const newUnavailable = Math.max(0, newRS.replicas - newRS.available);
  const maxScaledDown = sum(p.all, (rs) => rs.replicas) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return;

  // Unavailable old pods first: removing them costs no availability, and they may be what blocks the rollout.
  let cleaned = 0;
  for (const rs of p.oldRSs) {
    if (cleaned >= maxScaledDown) break;
    if (rs.replicas === 0 || rs.available >= rs.replicas) continue;
    const count = Math.min(maxScaledDown - cleaned, rs.replicas - rs.available);
    scale(p, rs, rs.replicas - count);
    cleaned += count;
  }

  // Then available old pods, down to minAvailable in all, oldest set first.
  const available = sum(p.all, (rs) => rs.available);
  if (available <= minAvailable) return;
  const toScaleDown = available - minAvailable;
  let scaledDown = 0;
  for (const rs of p.oldRSs) {
    if (scaledDown >= toScaleDown) break;
    if (rs.replicas === 0) continue;
    const count = Math.min(rs.replicas, toScaleDown - scaledDown);
    scale(p, rs, rs.replicas - count);
    scaledDown += count;
  }
}

/** recreate.go: all old sets to 0, wait until none of their pods runs, then the new set to full size. */
function rolloutRecreate(p: Planning): void {
  const activeOld = p.oldRSs.filter((rs) => rs.replicas > 0);
  if (activeOld.length > 0) {
    for (const rs of activeOld) scale(p, rs, 0);
    return;
  }
  // Terminating pods still run: a Recreate must not overlap old and new even for a grace period.
  const oldPodsRunning = p.oldRSs.some((rs) =>
    rs.pods.some((pod) => {
      const phase = podFacts(pod).phase;
      return phase !== "Succeeded" && phase !== "Failed";
    }),
  );
  if (oldPodsRunning) return;
  const newRS = p.newRS ?? createNewReplicaSet(p, p.spec.replicas);
  scale(p, newRS, p.spec.replicas);
}

/**
 * sync.go's scale() for a paused Deployment, without proportional scaling:
 * a single active set (or, with none, the new or newest one) takes the whole
 * count; a saturated new set lets the old ones go to 0. With several active
 * sets the replica count waits for the rollout to resume.
 */
function scalePaused(p: Planning): void {
  const active = p.all.filter((rs) => rs.replicas > 0);
  const newestFirst = [...p.all].reverse();
  const target = active.length === 1 ? active[0] : active.length === 0 ? (p.newRS ?? newestFirst[0]) : undefined;
  if (target) {
    scale(p, target, p.spec.replicas);
    return;
  }
  const newRS = p.newRS;
  if (newRS && newRS.replicas === p.spec.replicas && newRS.available === p.spec.replicas) {
    for (const rs of p.oldRSs) scale(p, rs, 0);
  }
}

/**
 * cleanupDeployment: keep revisionHistoryLimit old sets, deleting the oldest
 * revisions first, and only those scaled to 0 that no running pod belongs to
 * and whose controller has seen their last scale.
 */
function cleanupHistory(p: Planning): void {
  const cleanable = p.oldRSs.filter((rs) => !rs.deleting && rs.uid !== null);
  const excess = cleanable.length - p.spec.revisionHistoryLimit;
  if (excess <= 0) return;
  const oldestRevisionFirst = [...cleanable].sort((a, b) => a.revision - b.revision || byCreation(a, b));
  for (const rs of oldestRevisionFirst.slice(0, excess)) {
    const podsRunning = rs.pods.some((pod) => !["Succeeded", "Failed"].includes(podFacts(pod).phase));
    if (rs.replicas !== 0 || podsRunning || rs.generation > rs.observedGeneration) continue;
    p.actions.push({ type: "deleteReplicaSet", name: rs.name, uid: rs.uid!, revision: rs.revision });
  }
}

// ---------------------------------------------------------------- status and conditions (the one place)

interface ReplicaCounts {
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
}

function countReplicas(p: Planning): ReplicaCounts {
  const available = sum(p.all, (rs) => rs.available);
  return {
    replicas: sum(p.all, (rs) => rs.activePods.length),
    updatedReplicas: p.newRS?.activePods.length ?? 0,
    readyReplicas: sum(p.all, (rs) => rs.activePods.filter((pod) => podFacts(pod).ready).length),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, sum(p.all, (rs) => rs.replicas) - available),
  };
}

/** Kubernetes' DeploymentComplete: every replica updated and available, no old pod left. */
function isComplete(spec: DeploymentSpec, counts: ReplicaCounts): boolean {
  return (
    counts.updatedReplicas === spec.replicas &&
    counts.replicas === spec.replicas &&
    counts.availableReplicas === spec.replicas
  );
}

/** Kubernetes' DeploymentProgressing: any count moved the right way since the last status. */
function madeProgress(previous: z.infer<typeof previousStatusSchema>, counts: ReplicaCounts): boolean {
  return (
    counts.updatedReplicas > previous.updatedReplicas ||
    counts.replicas - counts.updatedReplicas < previous.replicas - previous.updatedReplicas ||
    counts.readyReplicas > previous.readyReplicas ||
    counts.availableReplicas > previous.availableReplicas
  );
}

function findCondition(conditions: DeploymentCondition[], type: DeploymentCondition["type"]) {
  return conditions.find((condition) => condition.type === type);
}

function putCondition(p: Planning, next: DeploymentCondition): void {
  const index = p.conditions.findIndex((condition) => condition.type === next.type);
  if (index === -1) p.conditions.push(next);
  else p.conditions[index] = next;
}

/** Kubernetes' SetDeploymentCondition: the same status and reason again changes nothing, not even the times. */
function setCondition(p: Planning, type: DeploymentCondition["type"], status: DeploymentCondition["status"], reason: string, message: string): void {
  const current = findCondition(p.conditions, type);
  if (current && current.status === status && current.reason === reason) return;
  touchCondition(p, type, status, reason, message);
}

/** A condition written with lastUpdateTime now even when only its counts moved: this is what "progress" means. */
function touchCondition(p: Planning, type: DeploymentCondition["type"], status: DeploymentCondition["status"], reason: string, message: string): void {
  const current = findCondition(p.conditions, type);
  const now = p.now.toISOString();
  const lastTransitionTime = current && current.status === status ? current.lastTransitionTime : now;
  putCondition(p, { type, status, reason, message, lastUpdateTime: now, lastTransitionTime });
}

function touchProgressing(p: Planning, status: DeploymentCondition["status"], reason: string, message: string): void {
  touchCondition(p, "Progressing", status, reason, message);
}

/** checkPausedConditions: a reported deadline is not overwritten by a pause. */
function syncPausedCondition(p: Planning): void {
  const current = findCondition(p.conditions, "Progressing");
  if (current?.reason === progressingReasons.timedOut) return;
  const pausedNoted = current?.reason === progressingReasons.paused;
  if (p.spec.paused && !pausedNoted) setCondition(p, "Progressing", "Unknown", progressingReasons.paused, "Deployment is paused");
  if (!p.spec.paused && pausedNoted) setCondition(p, "Progressing", "Unknown", progressingReasons.resumed, "Deployment is resumed");
}

function deadlineAt(p: Planning, condition: DeploymentCondition): number {
  return Date.parse(condition.lastUpdateTime) + p.spec.progressDeadlineSeconds * 1000;
}

/** syncRolloutStatus and calculateStatus: the Available and Progressing conditions, and the health they imply. */
function finishStatus(
  p: Planning,
  counts: ReplicaCounts,
  previous: z.infer<typeof previousStatusSchema>,
  generation: number,
): DeploymentStatus {
  const minAvailable = p.spec.replicas - p.fenceposts.maxUnavailable;
  if (counts.availableReplicas >= minAvailable) {
    setCondition(p, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.");
  } else {
    setCondition(p, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.");
  }

  const complete = isComplete(p.spec, counts);
  const subject = p.newRS ? `ReplicaSet "${p.newRS.name}"` : `Deployment "${p.name}"`;
  const progressing = findCondition(p.conditions, "Progressing");
  if (!p.spec.paused) {
    const alreadyComplete = counts.replicas === counts.updatedReplicas && progressing?.reason === progressingReasons.complete;
    if (!alreadyComplete) {
      if (complete) {
        setCondition(p, "Progressing", "True", progressingReasons.complete, `${subject} has successfully progressed.`);
      } else if (madeProgress(previous, counts)) {
        touchProgressing(p, "True", progressingReasons.updated, `${subject} is progressing.`);
      } else if (progressing && progressing.reason !== progressingReasons.complete && p.now.getTime() >= deadlineAt(p, progressing)) {
        setCondition(p, "Progressing", "False", progressingReasons.timedOut, `${subject} has timed out progressing.`);
      }
    }
  }

  const final = findCondition(p.conditions, "Progressing");
  let health: Health;
  if (final?.reason === progressingReasons.timedOut) health = "Degraded";
  else if (p.spec.paused) health = "Suspended";
  else if (complete) health = "Healthy";
  // Also after a finished rollout whose pods have since failed, or a scale-up: the pods' own health
  // says which (Argo CD does the same); Kubernetes keeps NewReplicaSetAvailable through both.
  else health = "Progressing";

  const conditionOrder = ["Available", "Progressing"];
  return {
    observedGeneration: generation,
    ...counts,
    collisionCount: p.collisionCount,
    ...(p.newRS ? { revision: p.newRS.revision } : {}),
    conditions: [...p.conditions].sort((a, b) => conditionOrder.indexOf(a.type) - conditionOrder.indexOf(b.type)),
    health,
  };
}

/** requeueStuckDeployment: when the progress deadline falls due for a rollout still under way. */
function deadlineInMs(p: Planning, counts: ReplicaCounts): number | undefined {
  const progressing = findCondition(p.conditions, "Progressing");
  if (p.spec.paused || !progressing || isComplete(p.spec, counts)) return undefined;
  if (progressing.reason === progressingReasons.complete || progressing.reason === progressingReasons.timedOut) return undefined;
  return Math.max(0, deadlineAt(p, progressing) - p.now.getTime());
}

function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((value): value is number => value !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
}
