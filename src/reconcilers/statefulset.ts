import { finalizersField, type ObjectKey, type StatefulSetSpec, type StoredObject } from "../desired/index.ts";
import { commitAnnotation, holdsFinalizer, podTerminationFinalizer } from "../nodes/index.ts";
import { autoscalerKind, autoscalerTargetKeys } from "./autoscale.ts";
import { configReferrerKeys } from "./config-hash.ts";
import { createOwnedPod, deleteOwnedPod } from "./owned-pods.ts";
import { ownKeyOrOwner } from "./owners.ts";
import { controllerRevisionKind } from "./statefulset-identity.ts";
import { planStatefulSet, type StatefulSetAction } from "./statefulset-plan.ts";
import { workloadToRun } from "./workload-to-run.ts";
import { statusChanged } from "./writes.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/**
 * StatefulSet → ControllerRevisions, PersistentVolumeClaims and Pods: read,
 * plan with the pure planStatefulSet, carry the actions out in order (a
 * claim before the pod that mounts it), write the status.
 */
export const statefulSetReconciler: Reconciler = {
  kind: "StatefulSet",
  name: "statefulset-controller",

  async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
    const { store } = ctx;
    const stored = await store.getObject(key);
    if (!stored) return {}; // gone: the garbage collector removes what it owned
    const statefulSet = await workloadToRun(store, stored, { autoscaled: true });
    const [pods, deletedPods, claims, revisions] = await Promise.all([
      store.listObjects({ kind: "Pod", namespace: key.namespace, ownerUid: stored.uid }),
      store.listObjects({ kind: "Pod", namespace: key.namespace, ownerUid: stored.uid, deleted: true }),
      store.listObjects({ kind: "PersistentVolumeClaim", namespace: key.namespace }),
      store.listObjects({ kind: controllerRevisionKind, namespace: key.namespace, ownerUid: stored.uid }),
    ]);
    const terminating = deletedPods.filter((pod) => holdsFinalizer(pod, podTerminationFinalizer));
    const plan = planStatefulSet({ statefulSet, pods, terminating, claims, revisions, now: ctx.clock.now() });
    for (const action of plan.actions) await apply(ctx, stored, action);
    if (statusChanged(stored, plan.status)) {
      await store.updateStatuses([{ key, uid: stored.uid, status: plan.status, observedGeneration: stored.generation }]);
    }
    return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs };
  },

  async keysFor(change: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> {
    if (change.kind === autoscalerKind) return autoscalerTargetKeys(change, ctx, "StatefulSet");
    if (change.kind === "ConfigMap" || change.kind === "Secret") return configReferrerKeys(change, ctx, "StatefulSet");
    // A claim deleted by hand (or by the sync) under a live pod is made again: wake its set.
    if (change.kind === "PersistentVolumeClaim" && change.deleted) {
      const sets = await ctx.store.listObjects({ kind: "StatefulSet", namespace: change.namespace });
      return sets
        .filter((set) => ((set.spec as StatefulSetSpec).volumeClaimTemplates ?? []).some((claim) => change.name.startsWith(`${claim.metadata.name}-${set.name}-`)))
        .map((set) => ({ kind: "StatefulSet", namespace: set.namespace, name: set.name }));
    }
    return ownKeyOrOwner(change, ctx, "StatefulSet", ["Pod"]);
  },
};

async function apply(ctx: ReconcileContext, set: StoredObject, action: StatefulSetAction): Promise<void> {
  const { store } = ctx;
  const about = { kind: "StatefulSet", namespace: set.namespace, name: set.name, uid: set.uid };
  switch (action.type) {
    case "createRevision":
      await store.createObject({
        apiVersion: "apps/v1",
        kind: controllerRevisionKind,
        namespace: set.namespace,
        name: action.name,
        labels: {},
        annotations: action.commit ? { [commitAnnotation]: action.commit } : {},
        spec: { revision: action.revision, template: action.template },
        ownerUid: set.uid,
      });
      return;
    case "deleteRevision":
      await store.deleteObject({ kind: controllerRevisionKind, namespace: set.namespace, name: action.name }, { uid: action.uid });
      return;
    case "createClaim":
      await store.createObject({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        namespace: set.namespace,
        name: action.claim.name,
        labels: action.claim.labels,
        annotations: action.claim.annotations,
        spec: action.claim.spec,
        status: { phase: "Pending" },
        ownerUid: action.claim.ownerUid,
      });
      await ctx.event(about, { type: "Normal", reason: "SuccessfulCreate", message: `create Claim ${action.claim.name} Pod ${action.pod} in StatefulSet ${set.name} success` });
      return;
    case "deleteClaim":
      await store.deleteObject({ kind: "PersistentVolumeClaim", namespace: set.namespace, name: action.name }, { uid: action.uid });
      await ctx.event(about, { type: "Normal", reason: "SuccessfulDelete", message: `delete Claim ${action.name} in StatefulSet ${set.name} success (whenScaled: Delete)` });
      return;
    case "setClaimOwner":
      await store.updateObject({ kind: "PersistentVolumeClaim", namespace: set.namespace, name: action.name }, action.resourceVersion, { ownerUid: action.ownerUid });
      return;
    case "createPod":
      await createOwnedPod(
        ctx,
        set,
        // Kept, once deleted, until its node has stopped it: its successor must not run beside it.
        { ...action.pod, status: { [finalizersField]: [podTerminationFinalizer] } },
        `create Pod ${action.pod.name} in StatefulSet ${set.name} successful`,
      );
      return;
    case "deletePod":
      await deleteOwnedPod(ctx, set, action, {
        type: action.reason === "Failed" ? "Warning" : "Normal",
        reason: action.reason === "Failed" ? "RecreatingFailedPod" : "SuccessfulDelete",
        message:
          action.reason === "Failed"
            ? `StatefulSet ${set.namespace}/${set.name} is recreating failed Pod ${action.name}`
            : `delete Pod ${action.name} in StatefulSet ${set.name} successful (${action.reason === "Update" ? "rolling update" : "scale down"})`,
      });
      return;
  }
}
