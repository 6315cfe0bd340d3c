import type { ObjectKey, StoredObject } from "../desired/index.ts";
import { commitAnnotation } from "../nodes/index.ts";
import { autoscalerKind, autoscalerTargetKeys } from "./autoscale.ts";
import { configReferrerKeys } from "./config-hash.ts";
import { planDeployment, revisionAnnotation, type DeploymentAction } from "./deployment-plan.ts";
import { ownKeyOrOwner } from "./owners.ts";
import { workloadToRun } from "./workload-to-run.ts";
import { statusChanged } from "./writes.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/**
 * Deployment → ReplicaSets (DESIGN.md house style 3): read, plan with the
 * pure planDeployment, carry the actions out, write the status. No decisions
 * here beyond the order of writes.
 */
export const deploymentReconciler: Reconciler = {
  kind: "Deployment",
  name: "deployment-controller",

  async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
    const { store } = ctx;
    const stored = await store.getObject(key);
    if (!stored) return {}; // gone: the garbage collector removes what it owned
    const deployment = await workloadToRun(store, stored, { autoscaled: true });
    const replicaSets = await store.listObjects({ kind: "ReplicaSet", namespace: key.namespace, ownerUid: stored.uid });
    const pods = (await Promise.all(replicaSets.map((rs) => store.listObjects({ kind: "Pod", namespace: key.namespace, ownerUid: rs.uid })))).flat();

    const plan = planDeployment({ deployment, replicaSets, pods, now: ctx.clock.now() });
    for (const action of plan.actions) await apply(ctx, stored, replicaSets, action);
    if (statusChanged(stored, plan.status)) {
      await store.updateStatuses([{ key, uid: stored.uid, status: plan.status, observedGeneration: stored.generation }]);
    }
    return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs };
  },

  async keysFor(change: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> {
    if (change.kind === "ConfigMap" || change.kind === "Secret") return configReferrerKeys(change, ctx, "Deployment");
    if (change.kind === autoscalerKind) return autoscalerTargetKeys(change, ctx, "Deployment");
    return ownKeyOrOwner(change, ctx, "Deployment", ["ReplicaSet", "Pod"]);
  },
};

async function apply(ctx: ReconcileContext, deployment: StoredObject, replicaSets: StoredObject[], action: DeploymentAction): Promise<void> {
  const { store } = ctx;
  const about = { kind: "Deployment", namespace: deployment.namespace, name: deployment.name, uid: deployment.uid };
  const rsKey = (name: string) => ({ kind: "ReplicaSet", namespace: deployment.namespace, name });
  const current = (uid: string) => {
    const rs = replicaSets.find((candidate) => candidate.uid === uid);
    if (!rs) throw new Error(`ReplicaSet ${uid} is not among those read`);
    return rs;
  };
  switch (action.type) {
    case "createReplicaSet": {
      await store.createObject({
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        namespace: deployment.namespace,
        name: action.name,
        labels: action.labels,
        // The commit whose template this is: its pods say which commit runs where.
        annotations: { ...action.annotations, ...(deployment.revisionSha ? { [commitAnnotation]: deployment.revisionSha } : {}) },
        spec: action.spec as unknown as Record<string, unknown>,
        ownerUid: deployment.uid,
      });
      await ctx.event(about, { type: "Normal", reason: "ScalingReplicaSet", message: `Created replica set ${action.name} with ${action.spec.replicas} replicas` });
      return;
    }
    case "scaleReplicaSet": {
      const rs = current(action.uid);
      await store.updateObject(rsKey(action.name), rs.resourceVersion, { spec: { ...rs.spec, replicas: action.replicas } });
      const direction = action.replicas > action.from ? "up" : "down";
      await ctx.event(about, { type: "Normal", reason: "ScalingReplicaSet", message: `Scaled ${direction} replica set ${action.name} from ${action.from} to ${action.replicas}` });
      return;
    }
    case "setRevision": {
      const rs = current(action.uid);
      const annotations: Record<string, string> = { ...rs.annotations, [revisionAnnotation]: String(action.revision) };
      if (deployment.revisionSha) annotations[commitAnnotation] = deployment.revisionSha;
      await store.updateObject(rsKey(action.name), rs.resourceVersion, { annotations });
      return;
    }
    case "setMinReadySeconds": {
      const rs = current(action.uid);
      await store.updateObject(rsKey(action.name), rs.resourceVersion, { spec: { ...rs.spec, minReadySeconds: action.minReadySeconds } });
      return;
    }
    case "deleteReplicaSet":
      await store.deleteObject(rsKey(action.name), { uid: action.uid });
      return;
  }
}
