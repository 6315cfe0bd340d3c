import { scalableKinds as scalableWorkloadKinds, selectorMatches, type HorizontalPodAutoscalerSpec, type LabelSelector, type ObjectKey } from "../desired/index.ts";
import type { PodStatus } from "../nodes/index.ts";
import { autoscalerKind, autoscalersOf } from "./autoscale.ts";
import { planAutoscaler } from "./autoscaler-plan.ts";
import type { PodCpuUsage, PodUsageByUid, ReplicaCalculatorOptions } from "./replica-calculator.ts";
import { statusChanged } from "./writes.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/**
 * HorizontalPodAutoscaler: read the target, its pods and their live CPU use,
 * plan with the pure planAutoscaler, record events, write the autoscaler's
 * status. It writes nothing else: the target's controller reads the decision
 * (autoscale.ts). Runs every sync period and whenever the target or one of
 * its pods changes.
 */

/** Live CPU use of pods, the part of metrics-server capstan needs. */
export interface PodMetricsSource {
  cpuUsage(): PodUsageByUid;
}

/** No samples at all: an autoscaler then says so in its ScalingActive condition. */
export const noPodMetrics: PodMetricsSource = { cpuUsage: () => new Map() };

/**
 * The agents' live reports (NodeManager.podStatuses) as a metrics source.
 * Usage is read there, not from the stored pod status, which leaves it out so
 * that a sample every few seconds does not rewrite every pod's row.
 */
export function podMetricsFrom(nodes: { podStatuses(): { node: string; pods: PodStatus[] }[] }): PodMetricsSource {
  return {
    cpuUsage() {
      const usage = new Map<string, PodCpuUsage>();
      for (const { pods } of nodes.podStatuses()) {
        for (const pod of pods) {
          const containers = pod.containerStatuses.flatMap((container) => (container.usage ? [{ name: container.name, cpuMillis: container.usage.cpuMillis }] : []));
          usage.set(pod.uid, { containers });
        }
      }
      return usage;
    },
  };
}

// The kinds scaleTargetRef accepts, as plain strings to test a change's kind against.
const scalableKinds: readonly string[] = scalableWorkloadKinds;

export function autoscalerReconciler(options: { metrics?: PodMetricsSource; calculator?: Partial<ReplicaCalculatorOptions> } = {}): Reconciler {
  const metrics = options.metrics ?? noPodMetrics;
  return {
    kind: autoscalerKind,
    name: "horizontal-pod-autoscaler",

    async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
      const { store } = ctx;
      const stored = await store.getObject(key);
      if (!stored || stored.deletedAt !== null) return {};
      const ref = (stored.spec as HorizontalPodAutoscalerSpec).scaleTargetRef;
      const targetKey = { kind: ref.kind, namespace: key.namespace, name: ref.name };
      const found = await store.getObject(targetKey);
      const target = found && found.deletedAt === null ? found : null;
      const selector = (target?.spec as { selector?: LabelSelector } | undefined)?.selector;
      const pods = selector ? (await store.listObjects({ kind: "Pod", namespace: key.namespace })).filter((pod) => selectorMatches(selector, pod.labels)) : [];
      const contenders = (await autoscalersOf(store, targetKey)).filter((other) => other.uid !== stored.uid).map((other) => other.name);

      const plan = planAutoscaler({
        autoscaler: stored,
        target,
        pods,
        usage: metrics.cpuUsage(),
        contenders,
        now: ctx.clock.now(),
        ...(options.calculator ? { options: options.calculator } : {}),
      });
      const about = { kind: autoscalerKind, namespace: stored.namespace, name: stored.name, uid: stored.uid };
      for (const event of plan.events) await ctx.event(about, event);
      if (statusChanged(stored, plan.status)) {
        await store.updateStatuses([{ key, uid: stored.uid, status: plan.status, observedGeneration: stored.generation }]);
      }
      return { requeueAfterMs: plan.requeueAfterMs };
    },

    async keysFor(change: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> {
      // Its own status is written here: nothing to react to.
      if (change.kind === autoscalerKind) return change.statusOnly ? [] : [{ kind: autoscalerKind, namespace: change.namespace, name: change.name }];
      // A pod's status (readiness) moves the calculation; a workload's own status does not, its spec (selector) may.
      const relevant = change.kind === "Pod" || (scalableKinds.includes(change.kind) && !change.statusOnly);
      if (!relevant) return [];
      const autoscalers = await ctx.store.listObjects({ kind: autoscalerKind, namespace: change.namespace });
      if (autoscalers.length === 0) return [];
      const workloads = change.kind === "Pod" ? await podWorkloads(ctx, change) : [{ kind: change.kind, name: change.name }];
      return autoscalers
        .filter((autoscaler) => {
          const ref = (autoscaler.spec as HorizontalPodAutoscalerSpec).scaleTargetRef;
          return workloads.some((workload) => workload.kind === ref.kind && workload.name === ref.name);
        })
        .map((autoscaler) => ({ kind: autoscalerKind, namespace: autoscaler.namespace, name: autoscaler.name }));
    },
  };
}

/** The scalable workload a pod belongs to: its owner (a StatefulSet) or its owner's owner (ReplicaSet → Deployment). */
async function podWorkloads(ctx: ReconcileContext, change: ObjectChange): Promise<{ kind: string; name: string }[]> {
  let ownerUid = change.ownerUid ?? null;
  for (let hop = 0; hop < 2 && ownerUid; hop += 1) {
    const owner = await ctx.store.getObjectByUid(ownerUid);
    if (!owner) return [];
    if (scalableKinds.includes(owner.kind)) return [{ kind: owner.kind, name: owner.name }];
    ownerUid = owner.ownerUid;
  }
  return [];
}
