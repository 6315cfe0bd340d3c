import type { ObjectKey, PodSpec, StoredObject } from "../desired/index.ts";
import { defaultStack, schedule, type SchedulerStack, type SchedulingStrategy } from "../scheduler/index.ts";
import { claimBindings, claimNamesOf, missingClaimsMessage, readPodClaims } from "./claim-binding.ts";
import { assumeBound, buildSnapshot, isFinished, toSchedulable, type ClusterSnapshot } from "./cluster-snapshot.ts";
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
 * when nothing fits, and deletes the pods it bound to a node that no longer
 * exists so that their owner replaces them. Pods written in Git are not
 * bound (the next commit would rewrite them): they name their node. Phases
 * come from the agents' reports (NodeManager writes them).
 */
export function podReconciler(options: PodReconcilerOptions = {}): Reconciler {
  const stack: SchedulerStack = defaultStack({ strategy: options.strategy ?? "spread" });
  const ttl = options.snapshotTtlMs ?? 1_000;
  let snapshot: ClusterSnapshot | undefined;
  /**
   * Until when the snapshot serves: `ttl` after its listing ended, or four
   * times as long as that listing took when that is longer. Counted from the
   * listing's start, a listing slower than `ttl` (30,000 pods on a loaded
   * machine) came back already stale, and every few pods listed every pod again.
   */
  let servesUntil = 0;
  let building: Promise<ClusterSnapshot> | undefined;
  /**
   * One listing of every pod for all the node changes that arrive while it is
   * under way: 1,000 nodes coming Ready at once listed 30,000 pods 1,000
   * times. Joining a listing begun before the change misses no pod: pods
   * never lose their node, and one created since is enqueued by its own change.
   */
  let podListing: Promise<StoredObject[]> | undefined;
  const allPods = (ctx: ReconcileContext): Promise<StoredObject[]> =>
    (podListing ??= ctx.store.listObjects({ kind: "Pod" }).finally(() => (podListing = undefined)));
  /** Decisions made but perhaps not yet visible in a fresh listing (kube-scheduler's assumed pods). */
  const assumed = new Map<string, { node: string; pod: StoredObject; at: number }>();
  const assumeTtlMs = 30_000;
  /** Each node's Ready status as last seen, so that heartbeat-only status writes wake nobody. */
  const readiness = new Map<string, string>();

  /** One snapshot shared by concurrent reconciles (a rebuild in flight is awaited, not repeated, so no booking is lost). */
  async function currentSnapshot(ctx: ReconcileContext): Promise<ClusterSnapshot> {
    const now = ctx.clock.now().getTime();
    if (snapshot && now < servesUntil) return snapshot;
    building ??= (async () => {
      try {
        const [nodes, pods] = await Promise.all([ctx.store.listObjects({ kind: "Node" }), ctx.store.listObjects({ kind: "Pod" })]);
        const listedAt = ctx.clock.now().getTime();
        const built = buildSnapshot(nodes, pods, now);
        // Bookings whose write the listing may predate are replayed until the store shows them (or they age out).
        const listed = new Map(pods.map((pod) => [pod.uid, pod]));
        for (const [uid, booking] of assumed) {
          const seen = listed.get(uid);
          if (!seen || (seen.spec as PodSpec).nodeName || now - booking.at > assumeTtlMs) assumed.delete(uid);
          else assumeBound(built, booking.node, booking.pod);
        }
        snapshot = built;
        servesUntil = listedAt + Math.max(ttl, 4 * (listedAt - now));
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
        // A pod that names its node (or was just bound) binds its claims there, so that their next users follow it.
        await bindClaims(ctx, (await readPodClaims(ctx.store, pod)).found, spec.nodeName);
        // The snapshot answers for nearly every bound pod; only a node missing from it is checked in the store.
        if ((await currentSnapshot(ctx)).byName.has(spec.nodeName)) return {};
        const node = await ctx.store.getObject({ kind: "Node", namespace: "", name: spec.nodeName });
        if (node) return {};
        // Only a pod this scheduler bound is replaced: one whose template names a missing node would come back
        // bound to it again, and delete/create would loop for ever. That one waits, Pending, for the node.
        if (pod.ownerUid && pod.annotations[boundByAnnotation] === "scheduler") {
          await ctx.store.deleteObject(key, { uid: pod.uid });
          await ctx.event(about, { type: "Warning", reason: "NodeGone", message: `node ${spec.nodeName} no longer exists; the pod is deleted so that its owner replaces it` });
          return {};
        }
        await ctx.event(about, { type: "Warning", reason: "NodeNotFound", message: `the pod names node ${spec.nodeName}, which no Node manifest declares` });
        return { requeueAfterMs: 30_000 };
      }
      if (pod.source === "git") {
        // A Pod written in Git is rewritten from Git on the next commit, which would undo a binding: it must name its node.
        await ctx.event(about, { type: "Warning", reason: "NodeNameRequired", message: "a Pod written in Git is not scheduled: set spec.nodeName, or use a Deployment" });
        return {};
      }

      const claims = await readPodClaims(ctx.store, pod);
      const cluster = await currentSnapshot(ctx);
      const result =
        claims.missing.length > 0
          ? { node: undefined, message: missingClaimsMessage(claims.missing) }
          : schedule({ ...toSchedulable(pod), boundClaims: claims.bound }, cluster.nodes, stack);
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
      assumed.set(pod.uid, { node: result.node, pod, at: ctx.clock.now().getTime() });
      try {
        // The claims first: a pod bound with its claims still unbound could let a second user of them land elsewhere.
        await bindClaims(ctx, claims.found, result.node);
        await ctx.store.updateObject(key, pod.resourceVersion, {
          spec: { ...spec, nodeName: result.node },
          annotations: { ...pod.annotations, [boundByAnnotation]: "scheduler" },
        });
      } catch (error) {
        assumed.delete(pod.uid);
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
        const pods = await allPods(ctx);
        return pods.filter((pod) => waitsFor(pod, change.name)).map((pod) => ({ kind: "Pod", namespace: pod.namespace, name: pod.name }));
      }
      if (change.kind === "Node") {
        // A status write: only a change of readiness can make room for pending pods (heartbeats are most writes).
        const node = await ctx.store.getObject({ kind: "Node", namespace: "", name: change.name });
        const ready = readyStatus(node);
        if (readiness.get(change.name) === ready) return [];
        readiness.set(change.name, ready);
        snapshot = undefined;
        const pods = await allPods(ctx);
        return pods.filter((pod) => !(pod.spec as PodSpec).nodeName).map((pod) => ({ kind: "Pod", namespace: pod.namespace, name: pod.name }));
      }
      // A claim that appears may be what pending pods wait for.
      if (change.kind === "PersistentVolumeClaim" && !change.statusOnly && !change.deleted) {
        const pods = await ctx.store.listObjects({ kind: "Pod", namespace: change.namespace });
        return pods
          .filter((pod) => !(pod.spec as PodSpec).nodeName && claimNamesOf(pod.spec as PodSpec).includes(change.name))
          .map((pod) => ({ kind: "Pod", namespace: pod.namespace, name: pod.name }));
      }
      return [];
    },
  };
}

async function bindClaims(ctx: ReconcileContext, claims: readonly StoredObject[], node: string): Promise<void> {
  const updates = claimBindings(claims, node);
  if (updates.length === 0) return;
  await ctx.store.updateStatuses(updates);
  for (const update of updates) {
    await ctx.event({ ...update.key, uid: update.uid }, { type: "Normal", reason: "Bound", message: `bound to node ${node}: its directory lives there` });
  }
}

/** Set on pods the scheduler bound, as opposed to pods whose template names their node. */
export const boundByAnnotation = "capstan.dev/bound-by";

function readyStatus(node: StoredObject | null): string {
  const conditions = (node?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions;
  return conditions?.find((condition) => condition.type === "Ready")?.status ?? "Unknown";
}

function waitsFor(pod: StoredObject, node: string): boolean {
  const nodeName = (pod.spec as PodSpec).nodeName;
  return !nodeName || nodeName === node;
}
