/** The control loops (DESIGN.md, reconcilers): the runtime, one reconciler per kind, the garbage collector. */
import { autoscalerReconciler, type PodMetricsSource } from "./autoscaler.ts";
import { daemonSetReconciler } from "./daemonset.ts";
import { deploymentReconciler } from "./deployment.ts";
import { endpointsReconciler } from "./endpoints.ts";
import { cronJobReconciler } from "./cronjob.ts";
import { jobReconciler } from "./job.ts";
import { nodeLifecycleReconciler } from "./node-lifecycle.ts";
import { podReconciler } from "./pod.ts";
import { replicaSetReconciler } from "./replicaset.ts";
import { statefulSetReconciler } from "./statefulset.ts";
import { rolloutTracker, type RolloutTrackerOptions } from "./rollout-tracker.ts";
import type { Reconciler } from "./types.ts";
import type { SchedulingStrategy } from "../scheduler/index.ts";
import type { Clock } from "../clock.ts";

export { ControllerManager, objectChangeSchema, parseObjectChange, type ControllerOptions } from "./controller.ts";
export { GarbageCollector, planGarbage } from "./gc.ts";
export { deploymentReconciler, replicaSetReconciler, podReconciler, nodeLifecycleReconciler };
export { daemonSetReconciler };
export { jobReconciler, cronJobReconciler };
export { autoscalerReconciler, podMetricsFrom, type PodMetricsSource } from "./autoscaler.ts";
export { autoscaledReplicas, autoscalerTargetKeys, autoscalersAmong, decidedReplicas } from "./autoscale.ts";
export { endpointsReconciler };
export { endpointSliceSpec, planEndpoints, resolveTargetPort, type EndpointsAction } from "./endpoints-plan.ts";
export { statefulSetReconciler };
export { worse, worst, healthStates, type Health } from "./health.ts";
export { rolloutTracker, autoRevertAnnotation, type FailedRollout, type RolloutTrackerOptions } from "./rollout-tracker.ts";
export type { Reconciler, ReconcileContext, ReconcileResult, ObjectChange, ReconcileObserver, CronJobRunObserver } from "./types.ts";
export type { QueueStats } from "./controller.ts";

/**
 * Every reconciler `capstan up` runs, in one list. `cronJobClock` replaces
 * the manager's clock for the CronJob controller alone (the end-to-end test
 * hook of src/cron-test-clock.ts); everything else keeps real time.
 */
export function standardReconcilers(
  options: { schedulerStrategy?: SchedulingStrategy; evictionGraceMs?: number; podMetrics?: PodMetricsSource; rollouts?: RolloutTrackerOptions; cronJobClock?: Clock } = {},
): Reconciler[] {
  const trackers = options.rollouts ? [rolloutTracker("Deployment", options.rollouts), rolloutTracker("DaemonSet", options.rollouts), rolloutTracker("StatefulSet", options.rollouts)] : [];
  return [
    ...trackers,
    deploymentReconciler,
    replicaSetReconciler,
    daemonSetReconciler(),
    statefulSetReconciler,
    podReconciler({ strategy: options.schedulerStrategy }),
    nodeLifecycleReconciler({ evictionGraceMs: options.evictionGraceMs }),
    autoscalerReconciler({ metrics: options.podMetrics }),
    endpointsReconciler,
    jobReconciler,
    options.cronJobClock ? { ...cronJobReconciler, ownClock: options.cronJobClock } : cronJobReconciler,
  ];
}
