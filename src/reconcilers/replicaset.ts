import { randomUUID } from "node:crypto";
import type { ObjectKey } from "../desired/index.ts";
import { commitAnnotation } from "../nodes/index.ts";
import { replacedPods } from "./drift.ts";
import { createOwnedPod, deleteOwnedPod } from "./owned-pods.ts";
import { ownKeyOrOwner } from "./owners.ts";
import { planReplicaSet } from "./replicaset-plan.ts";
import { inBatches, statusChanged } from "./writes.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/** ReplicaSet → Pods: create the missing, delete the surplus (victims chosen by the plan), write the status. */
export const replicaSetReconciler: Reconciler = {
  kind: "ReplicaSet",
  name: "replicaset-controller",

  async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
    const { store } = ctx;
    const replicaSet = await store.getObject(key);
    if (!replicaSet) return {};
    const pods = await store.listObjects({ kind: "Pod", namespace: key.namespace, ownerUid: replicaSet.uid });
    const plan = planReplicaSet({ replicaSet, pods, now: ctx.clock.now(), nameSeed: randomUUID() });
    const about = { ...key, uid: replicaSet.uid };
    const commit = replicaSet.annotations[commitAnnotation];
    // Pods are created (and deleted) concurrently, a few at a time: one by one, a 10-replica rollout spent ~0.5 s here.
    await inBatches(plan.actions, 16, async (action) => {
      if (action.type === "createPod") {
        const { labels, annotations } = action.template.metadata;
        await createOwnedPod(ctx, replicaSet, { name: action.name, labels, annotations: { ...annotations, ...(commit ? { [commitAnnotation]: commit } : {}) }, spec: action.template.spec });
      } else {
        await deleteOwnedPod(ctx, replicaSet, action);
      }
    });
    const replaced = replacedPods(replicaSet, plan.actions.filter((action) => action.type === "createPod").length);
    if (replaced > 0) {
      await ctx.event(about, { type: "Warning", reason: "DriftRepaired", message: `Replaced ${replaced} pod(s) that went away without a change in Git (deleted, evicted or failed)` });
    }
    if (statusChanged(replicaSet, plan.status)) await store.updateStatuses([{ key, uid: replicaSet.uid, status: plan.status, observedGeneration: replicaSet.generation }]);
    return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs };
  },

  keysFor: (change: ObjectChange, ctx: ReconcileContext) => ownKeyOrOwner(change, ctx, "ReplicaSet", ["Pod"]),
};

