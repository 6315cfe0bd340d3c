import type { PodTemplateSpec, StatefulSetSpec, StoredObject } from "../desired/index.ts";
import { commitAnnotation } from "../nodes/index.ts";
import { scaledValue } from "./deployment-plan.ts";
import { podTemplateHash } from "./pod-template-hash.ts";
import { isPodAvailable, nextAvailabilityInMs, podFacts } from "./replicaset-plan.ts";
import {
  claimOrdinal,
  ordinalOf,
  podRevision,
  revisionName,
  statefulClaim,
  statefulPod,
  type ClaimObject,
  type PodObject,
} from "./statefulset-identity.ts";
import { statefulSetStatus, type StatefulSetStatus } from "./statefulset-status.ts";

export { statefulSetStatusSchema, type StatefulSetStatus } from "./statefulset-status.ts";

/**
 * The StatefulSet controller's decisions, pure (house style 3), after
 * Kubernetes' stateful_set_control.go (updateStatefulSet):
 *
 * 1. Ordinals 0..replicas-1, in order: create what is missing (its claims
 *    first), delete a Failed pod so that it is made again. With OrderedReady
 *    the pass stops at the first pod created, deleted, or not yet Running and
 *    Ready for minReadySeconds; with Parallel it goes on.
 * 2. Pods at ordinals >= replicas are deleted highest first; with
 *    OrderedReady one per pass, and only when 1. found every pod healthy.
 * 3. RollingUpdate: pods of an old revision at ordinals >= partition are
 *    deleted highest first, as many as maxUnavailable allows (counting pods
 *    not healthy); step 1 then makes them again from the new template. A
 *    pod below the partition is made, when missing, from the current
 *    (old) revision. OnDelete leaves replacement to whoever deletes pods.
 * 4. persistentVolumeClaimRetentionPolicy.whenScaled Delete: the claims of
 *    ordinals that are scaled away are deleted once their pod is gone.
 *    (whenDeleted Delete: the claims are owned by the set, so the garbage
 *    collector removes them with it.)
 *
 * Templates are kept as ControllerRevision objects (`<set>-<hash>`, owned by
 * the set) so that the current revision can be recreated below a partition;
 * unused ones beyond revisionHistoryLimit are deleted, oldest first.
 */

export type StatefulSetAction =
  | { type: "createRevision"; name: string; revision: number; template: PodTemplateSpec; commit: string | undefined }
  | { type: "deleteRevision"; name: string; uid: string }
  | { type: "createClaim"; claim: ClaimObject; pod: string }
  | { type: "deleteClaim"; name: string; uid: string; reason: "ScaleDown" }
  | { type: "setClaimOwner"; name: string; resourceVersion: number; ownerUid: string | null }
  | { type: "createPod"; pod: PodObject; ordinal: number }
  | { type: "deletePod"; name: string; uid: string; reason: "ScaleDown" | "Update" | "Failed" };



export interface StatefulSetPlanInput {
  /** The set, its template already carrying the config hash. */
  statefulSet: StoredObject;
  /** Live pods owned by the set. */
  pods: StoredObject[];
  /**
   * Pods of the set that were deleted and whose processes may still run (they
   * hold the pod-termination finalizer until their node confirms): their
   * ordinal is taken until they are gone, as a terminating pod's name is in Kubernetes.
   */
  terminating?: StoredObject[];
  /** Live PersistentVolumeClaims of the set's namespace (claims are found by name, as Kubernetes does). */
  claims: StoredObject[];
  /** Live ControllerRevisions owned by the set. */
  revisions: StoredObject[];
  now: Date;
}

export interface StatefulSetPlan {
  actions: StatefulSetAction[];
  status: StatefulSetStatus;
  requeueAfterMs?: number;
}

export function planStatefulSet(input: StatefulSetPlanInput): StatefulSetPlan {
  const { statefulSet: set, pods, claims, revisions, now } = input;
  const spec = set.spec as StatefulSetSpec;
  const actions: StatefulSetAction[] = [];
  const monotonic = spec.podManagementPolicy === "OrderedReady";
  const healthy = (pod: StoredObject) => podFacts(pod).phase === "Running" && isPodAvailable(pod, spec.minReadySeconds, now);

  // ------------------------------------------------------------ revisions
  const updateRevision = revisionName(set.name, podTemplateHash(spec.template));
  const byName = new Map(revisions.map((revision) => [revision.name, revision]));
  if (!byName.has(updateRevision)) {
    const highest = Math.max(0, ...revisions.map(revisionNumber));
    actions.push({ type: "createRevision", name: updateRevision, revision: highest + 1, template: spec.template, commit: set.revisionSha ?? undefined });
  }
  const previous = (set.status as { currentRevision?: unknown }).currentRevision;
  const currentRevision = typeof previous === "string" && byName.has(previous) ? previous : updateRevision;
  const templates = {
    current: currentRevision === updateRevision ? spec.template : ((byName.get(currentRevision)!.spec as { template: PodTemplateSpec }).template),
    update: spec.template,
  };
  const commits = {
    current: currentRevision === updateRevision ? (set.revisionSha ?? undefined) : byName.get(currentRevision)!.annotations[commitAnnotation],
    update: set.revisionSha ?? undefined,
  };

  // ------------------------------------------------------------ pods by ordinal
  const terminating = new Map<number, StoredObject>();
  for (const pod of input.terminating ?? []) {
    const ordinal = ordinalOf(set.name, pod.name);
    if (ordinal !== null) terminating.set(ordinal, pod);
  }
  const replicas = new Map<number, StoredObject>();
  const condemned: { ordinal: number; pod: StoredObject }[] = [];
  for (const pod of pods) {
    const ordinal = ordinalOf(set.name, pod.name);
    if (ordinal !== null && ordinal < spec.replicas) replicas.set(ordinal, pod);
    // A pod of the set whose name is not an ordinal of it is condemned too, before any real ordinal.
    else condemned.push({ ordinal: ordinal ?? Number.POSITIVE_INFINITY, pod });
  }
  condemned.sort((a, b) => b.ordinal - a.ordinal);

  const liveClaims = new Set(claims.map((claim) => claim.name));
  const partition = spec.updateStrategy.type === "RollingUpdate" ? spec.updateStrategy.rollingUpdate.partition : 0;
  const deleting = new Set<string>();
  const ensureClaims = (ordinal: number, pod: string) => {
    for (const template of spec.volumeClaimTemplates ?? []) {
      const claim = statefulClaim(set, template, ordinal);
      if (liveClaims.has(claim.name)) continue;
      liveClaims.add(claim.name);
      actions.push({ type: "createClaim", claim, pod });
    }
  };

  // 1. Ordinals in order: create, replace failed, and (OrderedReady) wait for each to be healthy.
  let blocked = false;
  for (let ordinal = 0; ordinal < spec.replicas && !blocked; ordinal++) {
    const pod = replicas.get(ordinal);
    if (!pod && terminating.has(ordinal)) {
      // Its predecessor is still stopping somewhere: at most one pod per identity.
      blocked = monotonic;
      continue;
    }
    if (!pod) {
      // Kubernetes' newVersionedStatefulSetPod: below the partition the current revision, else the update revision.
      const fromCurrent = spec.updateStrategy.type === "RollingUpdate" && ordinal < partition;
      const made = fromCurrent
        ? statefulPod(set, ordinal, templates.current, currentRevision, commits.current)
        : statefulPod(set, ordinal, templates.update, updateRevision, commits.update);
      ensureClaims(ordinal, made.name);
      actions.push({ type: "createPod", pod: made, ordinal });
      blocked = monotonic;
      continue;
    }
    const phase = podFacts(pod).phase;
    if (phase === "Failed" || phase === "Succeeded") {
      actions.push({ type: "deletePod", name: pod.name, uid: pod.uid, reason: "Failed" });
      deleting.add(pod.uid);
      blocked = monotonic;
      continue;
    }
    // A claim deleted under a live pod is made again, so that its next start finds one.
    ensureClaims(ordinal, pod.name);
    if (!healthy(pod)) blocked = monotonic;
  }

  // 2. Scale down, highest ordinal first; with OrderedReady, each one gone before the next.
  if ([...terminating.keys()].some((ordinal) => ordinal >= spec.replicas)) blocked ||= monotonic;
  for (const { pod } of condemned) {
    if (blocked) break;
    actions.push({ type: "deletePod", name: pod.name, uid: pod.uid, reason: "ScaleDown" });
    deleting.add(pod.uid);
    blocked = monotonic;
  }

  // 3. Rolling update, highest ordinal first, down to the partition.
  if (!blocked && spec.updateStrategy.type === "RollingUpdate") {
    const maxUnavailable = Math.max(1, scaledValue(spec.updateStrategy.rollingUpdate.maxUnavailable, spec.replicas, true));
    let unavailable = 0;
    for (let ordinal = 0; ordinal < spec.replicas; ordinal++) {
      const pod = replicas.get(ordinal);
      if (!pod || deleting.has(pod.uid) || !healthy(pod)) unavailable++; // a terminating one is missing here too
    }
    for (let ordinal = spec.replicas - 1; ordinal >= partition && unavailable < maxUnavailable; ordinal--) {
      const pod = replicas.get(ordinal);
      if (!pod || deleting.has(pod.uid) || podRevision(pod) === updateRevision) continue;
      actions.push({ type: "deletePod", name: pod.name, uid: pod.uid, reason: "Update" });
      deleting.add(pod.uid);
      // An old pod that was already unavailable is counted once.
      if (healthy(pod)) unavailable++;
    }
  }

  // 4. Claims of ordinals scaled away, once their pod is gone.
  if (spec.persistentVolumeClaimRetentionPolicy.whenScaled === "Delete") {
    const podOrdinals = new Set([...pods.map((pod) => ordinalOf(set.name, pod.name)), ...terminating.keys()]);
    for (const claim of claims) {
      if (claim.source !== "controller") continue;
      for (const template of spec.volumeClaimTemplates ?? []) {
        const ordinal = claimOrdinal(template, set.name, claim.name);
        if (ordinal === null || ordinal < spec.replicas || podOrdinals.has(ordinal)) continue;
        actions.push({ type: "deleteClaim", name: claim.name, uid: claim.uid, reason: "ScaleDown" });
      }
    }
  }

  // 4b. whenDeleted: a claim of the set is owned by it exactly when the policy deletes claims with the set, so that
  //     a changed policy applies to the claims already made too (Kubernetes updates their owner references).
  const owner = spec.persistentVolumeClaimRetentionPolicy.whenDeleted === "Delete" ? set.uid : null;
  const deletedClaims = new Set(actions.flatMap((action) => (action.type === "deleteClaim" ? [action.uid] : [])));
  for (const claim of claims) {
    if (claim.source !== "controller" || deletedClaims.has(claim.uid) || claim.ownerUid === owner) continue;
    if (claim.ownerUid !== null && claim.ownerUid !== set.uid) continue; // another owner's: not ours to change
    if (!(spec.volumeClaimTemplates ?? []).some((template) => claimOrdinal(template, set.name, claim.name) !== null)) continue;
    actions.push({ type: "setClaimOwner", name: claim.name, resourceVersion: claim.resourceVersion, ownerUid: owner });
  }

  // 5. Revision history: keep the current and update revisions, those pods still run, and revisionHistoryLimit more.
  const inUse = new Set([currentRevision, updateRevision, ...pods.map((pod) => podRevision(pod) ?? "")]);
  const unused = revisions.filter((revision) => !inUse.has(revision.name)).sort((a, b) => revisionNumber(a) - revisionNumber(b));
  for (const revision of unused.slice(0, Math.max(0, unused.length - spec.revisionHistoryLimit))) {
    actions.push({ type: "deleteRevision", name: revision.name, uid: revision.uid });
  }

  const status = statefulSetStatus(input, currentRevision, updateRevision, healthy);
  const requeueAfterMs = nextAvailabilityInMs(pods, spec.minReadySeconds, now);
  return requeueAfterMs === undefined ? { actions, status } : { actions, status, requeueAfterMs };
}

function revisionNumber(revision: StoredObject): number {
  const value = (revision.spec as { revision?: unknown }).revision;
  return typeof value === "number" ? value : 0;
}
