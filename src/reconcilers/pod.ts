import type { ObjectKey, PodSpec, StoredObject } from "../desired/index.ts";
import { defaultStack, type SchedulerStack, type SchedulingStrategy } from "../scheduler/index.ts";
import { assumeBound, buildSnapshot, isFinished, toSchedulable, type ClusterSnapshot } from "./cluster-snapshot.ts";
import { schedule } from "../scheduler/index.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

export interface PodReconcilerOptions {
  strategy?: SchedulingStrategy;
  /** How long a snapshot of nodes and pods serves before it is read again (decisions are booked into it meanwhile). */
  snapshotTtlMs?: number;
  /** How often a pod that fits nowhere is tried again when nothing else wakes it. */
  unschedulableRetryMs?: number;
}

/**
 * Pods: binds a pending pod to a node through the scheduler stack (a
 * conditional update on the pod's resource version, so two schedulers racing
 * cannot both bind it), records FailedScheduling with the per-reason counts
 * when nothing fits, and deletes controller-made pods bound to a node that no
 * longer exists so their owner replaces them. Phases come from the agents'
 * reports (NodeManager writes them).
 */
export function podReconciler(options: PodReconcilerOptions = {}): Reconciler {
  const stack: SchedulerStack = defaultStack({ strategy: options.strategy ?? "spread" });
  const ttl = options.snapshotTtlMs ?? 1_000;
  let snapshot: ClusterSnapshot | undefined;
  let building: Promise<ClusterSnapshot> | undefined;

  /** One snapshot shared by concurrent reconciles (a rebuild in flight is awaited, not repeated, so no booking is lost). */
  async function currentSnapshot(ctx: ReconcileContext): Promise<ClusterSnapshot> {
    const now = ctx.clock.now().getTime();
    if (snapshot && now - snapshot.builtAt < ttl) return snapshot;
    building ??= (async () => {
      try {
        const [nodes, pods] = await Promise.all([ctx.store.listObjects({ kind: "Node" }), ctx.store.listObjects({ kind: "Pod" })]);
        snapshot = buildSnapshot(nodes, pods, now);
        return snapshot;
      } finally {
        building = undefined;
      }
    })();
    return building;
  }

  return {
    kind: "Pod",
    name: "scheduler",

    async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
      const pod = await ctx.store.getObject(key);
      if (!pod || isFinished(pod)) return {};
      const spec = pod.spec as PodSpec;
      const about = { ...key, uid: pod.uid };
      if (spec.nodeName) {
        const node = await ctx.store.getObject({ kind: "Node", namespace: "", name: spec.nodeName });
        if (!node && pod.ownerUid) {
          await ctx.store.deleteObject(key, { uid: pod.uid });
          await ctx.event(about, { type: "Warning", reason: "NodeGone", message: `node ${spec.nodeName} no longer exists; the pod is deleted so that its owner replaces it` });
        }
        return {};
      }

      const cluster = await currentSnapshot(ctx);
      const result = schedule(toSchedulable(pod), cluster.nodes, stack);
      if (!result.node) {
        const previous = (pod.status as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] }).conditions?.find(
          (condition) => condition.type === "PodScheduled",
        );
        const since = previous?.status === "False" && previous.lastTransitionTime ? previous.lastTransitionTime : ctx.clock.now().toISOString();
        await ctx.store.updateStatuses([
          {
            key,
            uid: pod.uid,
            status: {
              phase: "Pending",
              conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: result.message, lastTransitionTime: since }],
            },
          },
        ]);
        await ctx.event(about, { type: "Warning", reason: "FailedScheduling", message: result.message });
        snapshot = undefined; // the next try reads the cluster afresh
        return { requeueAfterMs: options.unschedulableRetryMs ?? 5_000 };
      }
      // Booked before the write yields, so that a pod scheduled concurrently already sees this one (kube-scheduler's "assume").
      assumeBound(cluster, result.node, pod);
      try {
        await ctx.store.updateObject(key, pod.resourceVersion, { spec: { ...spec, nodeName: result.node } });
      } catch (error) {
        snapshot = undefined; // the booking did not happen: read the cluster afresh
        throw error;
      }
      await ctx.event(about, { type: "Normal", reason: "Scheduled", message: `Successfully assigned ${key.namespace}/${key.name} to ${result.node}` });
      return {};
    },

    async keysFor(change: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> {
      // The agents' status reports (and this reconciler's own FailedScheduling status) change nothing it decides on.
      if (change.kind === "Pod") return change.statusOnly ? [] : [{ kind: "Pod", namespace: change.namespace, name: change.name }];
      // A node that changes (ready again, new capacity, removed) may be where pending pods fit, or where bound pods were.
      if (change.kind === "Node" && !change.statusOnly) {
        snapshot = undefined;
        const pods = await ctx.store.listObjects({ kind: "Pod" });
        return pods.filter((pod) => waitsFor(pod, change.name)).map((pod) => ({ kind: "Pod", namespace: pod.namespace, name: pod.name }));
      }
      if (change.kind === "Node") {
        snapshot = undefined;
        const pods = await ctx.store.listObjects({ kind: "Pod" });
        return pods.filter((pod) => !(pod.spec as PodSpec).nodeName).map((pod) => ({ kind: "Pod", namespace: pod.namespace, name: pod.name }));
      }
      return [];
    },
  };
}

function waitsFor(pod: StoredObject, node: string): boolean {
  const nodeName = (pod.spec as PodSpec).nodeName;
  return !nodeName || nodeName === node;
}
