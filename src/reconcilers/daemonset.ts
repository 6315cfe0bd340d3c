import { randomUUID } from "node:crypto";
import type { ObjectKey, StoredObject } from "../desired/index.ts";
import { configReferrerKeys } from "./config-hash.ts";
import { planDaemonSet, type DaemonSetAction } from "./daemonset-plan.ts";
import { createOwnedPod, deleteOwnedPod } from "./owned-pods.ts";
import { ownKeyOrOwner } from "./owners.ts";
import { workloadToRun } from "./workload-to-run.ts";
import { inBatches, statusChanged } from "./writes.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/**
 * DaemonSet → one Pod per eligible node (DESIGN.md house style 3): read the
 * DaemonSet, every Node and its pods; plan with the pure planDaemonSet; carry
 * the actions out with Kubernetes' events; write the status.
 */
export function daemonSetReconciler(): Reconciler {
  /** Each node's Ready status as last seen, so that heartbeat-only status writes wake nobody (as the pod reconciler does). */
  const readiness = new Map<string, string>();

  return {
    kind: "DaemonSet",
    name: "daemonset-controller",

    async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
      const { store } = ctx;
      const stored = await store.getObject(key);
      if (!stored) return {}; // gone: the garbage collector removes its pods
      const daemonSet = await workloadToRun(store, stored, { autoscaled: false });
      const [nodes, pods] = await Promise.all([
        store.listObjects({ kind: "Node" }),
        store.listObjects({ kind: "Pod", namespace: key.namespace, ownerUid: stored.uid }),
      ]);
      const plan = planDaemonSet({ daemonSet, nodes, pods, now: ctx.clock.now(), nameSeed: randomUUID() });
      await inBatches(plan.actions, 16, (action) => apply(ctx, stored, action));
      if (statusChanged(stored, plan.status)) {
        await store.updateStatuses([{ key, uid: stored.uid, status: plan.status, observedGeneration: stored.generation }]);
      }
      return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs };
    },

    async keysFor(change: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> {
      if (change.kind === "Node") {
        if (change.statusOnly) {
          // Most node status writes are heartbeats; only a change of readiness changes where daemons belong.
          const node = await ctx.store.getObject({ kind: "Node", namespace: "", name: change.name });
          const ready = readyStatus(node);
          if (readiness.get(change.name) === ready) return [];
          readiness.set(change.name, ready);
        } else if (change.deleted) {
          readiness.delete(change.name);
        }
        return allDaemonSets(ctx);
      }
      if (change.kind === "ConfigMap" || change.kind === "Secret") return configReferrerKeys(change, ctx, "DaemonSet");
      return ownKeyOrOwner(change, ctx, "DaemonSet", ["Pod"]);
    },
  };
}

async function apply(ctx: ReconcileContext, daemonSet: StoredObject, action: DaemonSetAction): Promise<void> {
  const about = { kind: "DaemonSet", namespace: daemonSet.namespace, name: daemonSet.name, uid: daemonSet.uid };
  if (action.type === "createPod") {
    await createOwnedPod(ctx, daemonSet, { name: action.name, labels: action.labels, annotations: action.annotations, spec: action.spec });
    return;
  }
  if (action.reason === "Failed") {
    const message = `Found failed daemon pod ${daemonSet.namespace}/${action.name} on node ${action.node}, will try to kill it`;
    await ctx.event(about, { type: "Warning", reason: "FailedDaemonPod", message });
  }
  await deleteOwnedPod(ctx, daemonSet, action);
}

async function allDaemonSets(ctx: ReconcileContext): Promise<ObjectKey[]> {
  return (await ctx.store.listObjects({ kind: "DaemonSet" })).map(keyOf);
}

function keyOf(object: StoredObject): ObjectKey {
  return { kind: object.kind, namespace: object.namespace, name: object.name };
}

function readyStatus(node: StoredObject | null): string {
  const conditions = (node?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions;
  return conditions?.find((condition) => condition.type === "Ready")?.status ?? "Unknown";
}
