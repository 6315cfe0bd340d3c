import type { ObjectKey, PodSpec } from "../desired/index.ts";
import { planEvictions, readyCondition } from "./node-lifecycle-plan.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

export interface NodeLifecycleOptions {
  /** How long a node may be other than Ready before its pods are evicted (Kubernetes' default toleration is 300 s; capstan's hosts are few and reconnect in well under a second). */
  evictionGraceMs?: number;
}

/** Node → evictions of its pods when it has been NotReady/Unknown for the grace period (see planEvictions). */
export function nodeLifecycleReconciler(options: NodeLifecycleOptions = {}): Reconciler {
  const graceMs = options.evictionGraceMs ?? 5_000;
  return {
    kind: "Node",
    name: "node-lifecycle-controller",

    async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
      const node = await ctx.store.getObject(key);
      // Most calls are heartbeats of a healthy node: nothing to read further.
      if (!node || readyCondition(node)?.status === "True") return {};
      const [pods, nodes] = await Promise.all([ctx.store.listObjects({ kind: "Pod" }), ctx.store.listObjects({ kind: "Node" })]);
      const otherReady = nodes.filter((other) => other.name !== node.name && readyCondition(other)?.status === "True").length;
      const plan = planEvictions(
        node,
        pods.filter((pod) => (pod.spec as PodSpec).nodeName === node.name),
        ctx.clock.now(),
        graceMs,
        otherReady,
      );
      for (const { pod, reason } of plan.evict) {
        // Only controller-made pods are evicted: a Pod written in Git with a nodeName is the user's to move.
        if (!pod.ownerUid) continue;
        await ctx.store.deleteObject({ kind: "Pod", namespace: pod.namespace, name: pod.name }, { uid: pod.uid });
        await ctx.event({ kind: "Pod", namespace: pod.namespace, name: pod.name, uid: pod.uid }, { type: "Warning", reason: "Evicted", message: reason });
      }
      if (plan.evict.length > 0) {
        await ctx.event({ ...key, uid: node.uid }, { type: "Warning", reason: "EvictingPods", message: `evicted ${plan.evict.filter((entry) => entry.pod.ownerUid).length} pod(s): ${plan.evict[0]!.reason}` });
      }
      // While the node is not ready, look again when the next toleration runs out.
      return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs };
    },

    keysFor(change: ObjectChange): ObjectKey[] {
      // Status changes matter here: they are the heartbeats and Ready transitions.
      return change.kind === "Node" ? [{ kind: "Node", namespace: "", name: change.name }] : [];
    },
  };
}
