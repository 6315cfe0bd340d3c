import { z } from "zod";
import { parseCpuMillis, type HorizontalPodAutoscalerSpec, type StoredObject } from "../desired/index.ts";
import { healthStates, type Health } from "./health.ts";
import {
  calculateReplicas,
  defaultReplicaCalculatorOptions,
  type CpuTarget,
  type PodUsageByUid,
  type ReplicaCalculatorOptions,
} from "./replica-calculator.ts";
import type { EventInput } from "./types.ts";

/**
 * The HorizontalPodAutoscaler controller's decisions, pure (house style 3):
 * given an autoscaler, its target, the target's pods and their live CPU use,
 * the autoscaler's next status. Kubernetes' pkg/controller/podautoscaler
 * (horizontal.go: reconcileAutoscaler, stabilizeRecommendationWithBehaviors,
 * convertDesiredReplicasWithBehaviorRate) without scaling-rate policies.
 *
 * Nothing is written to the target: its controller reads
 * `status.desiredReplicas` instead of Git's replicas (autoscale.ts). The
 * recommendations Kubernetes keeps in memory are kept in the status, so a
 * restarted control plane still honours the scale-down window.
 */

/** Kubernetes' --horizontal-pod-autoscaler-sync-period. */
export const autoscalerSyncPeriodMs = 15_000;

// ---------------------------------------------------------------- status

const conditionSchema = z.object({
  type: z.enum(["AbleToScale", "ScalingActive", "ScalingLimited"]),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
});
export type AutoscalerCondition = z.infer<typeof conditionSchema>;

/** One unstabilised recommendation: what the metric asked for, and when. */
const recommendationSchema = z.object({ replicas: z.number().int().nonnegative(), timestamp: z.string() });
export type Recommendation = z.infer<typeof recommendationSchema>;

const metricStatusSchema = z.object({
  type: z.literal("Resource"),
  resource: z.object({
    name: z.literal("cpu"),
    current: z.object({ averageUtilization: z.number().int().optional(), averageValue: z.string() }),
  }),
});

export const autoscalerStatusSchema = z.object({
  observedGeneration: z.number().int(),
  /** `Kind/name` the counts below are about: a retargeted autoscaler starts afresh. */
  scaleTarget: z.string(),
  /** The target's replicas as the autoscaler found them (its own last decision, or Git's before the first); absent until it has seen the target. */
  currentReplicas: z.number().int().optional(),
  /** What the target's controller runs instead of Git's replicas; absent until it has seen the target, so a missing target is never scaled to 0. */
  desiredReplicas: z.number().int().optional(),
  lastScaleTime: z.string().optional(),
  currentMetrics: z.array(metricStatusSchema),
  conditions: z.array(conditionSchema),
  recommendations: z.array(recommendationSchema),
  health: z.enum(healthStates),
});
export type AutoscalerStatus = z.infer<typeof autoscalerStatusSchema>;

/** The previous status, read leniently: what is missing or malformed counts as never written. */
const previousStatusSchema = z.object({
  scaleTarget: z.string().optional().catch(undefined),
  currentReplicas: z.number().int().nonnegative().optional().catch(undefined),
  desiredReplicas: z.number().int().nonnegative().optional().catch(undefined),
  lastScaleTime: z.string().optional().catch(undefined),
  conditions: z.array(z.unknown()).catch([]),
  recommendations: z.array(z.unknown()).optional().catch(undefined),
});

// ---------------------------------------------------------------- the plan

export interface AutoscalerPlanInput {
  autoscaler: StoredObject;
  /** The workload scaleTargetRef names, or null when there is none. */
  target: StoredObject | null;
  /** Live pods the target's selector selects. */
  pods: StoredObject[];
  usage: PodUsageByUid;
  /** Names of other autoscalers of the same workload: none of them scales it (Kubernetes' AmbiguousSelector). */
  contenders: string[];
  now: Date;
  options?: Partial<ReplicaCalculatorOptions>;
}

export interface AutoscalerPlan {
  status: AutoscalerStatus;
  events: EventInput[];
  requeueAfterMs: number;
}

interface Planning {
  now: Date;
  conditions: AutoscalerCondition[];
  events: EventInput[];
}

export function planAutoscaler(input: AutoscalerPlanInput): AutoscalerPlan {
  const { autoscaler, target, now } = input;
  const spec = autoscaler.spec as HorizontalPodAutoscalerSpec;
  const scaleTarget = `${spec.scaleTargetRef.kind}/${spec.scaleTargetRef.name}`;
  const parsed = previousStatusSchema.parse(autoscaler.status);
  // Counts and recommendations about another workload say nothing about this one.
  const previous =
    parsed.scaleTarget === scaleTarget
      ? parsed
      : { ...parsed, currentReplicas: undefined, desiredReplicas: undefined, lastScaleTime: undefined, recommendations: undefined };
  const p: Planning = { now, conditions: validEntries(previous.conditions, conditionSchema), events: [] };
  const base = { observedGeneration: autoscaler.generation, scaleTarget, requeueAfterMs: autoscalerSyncPeriodMs };

  if (!target) {
    const message = `the HPA controller was unable to get the target's current scale: ${scaleTarget} not found`;
    if (setCondition(p, "AbleToScale", "False", "FailedGetScale", message)) p.events.push({ type: "Warning", reason: "FailedGetScale", message });
    return finish(p, base, {
      currentReplicas: previous.currentReplicas,
      desiredReplicas: previous.desiredReplicas,
      lastScaleTime: previous.lastScaleTime,
      metrics: [],
      recommendations: validEntries(previous.recommendations ?? [], recommendationSchema),
    });
  }
  setCondition(p, "AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale");

  const gitReplicas = (target.spec as { replicas?: number }).replicas ?? 1;
  const currentReplicas = previous.desiredReplicas ?? gitReplicas;
  // Kubernetes' recordInitialRecommendation: a first sight counts as recommending the current size, so
  // a scale-down waits a whole window after the autoscaler appears. Every pass with a target leaves at
  // least one recommendation, so none means none of its passes had one yet.
  const kept = validEntries(previous.recommendations ?? [], recommendationSchema);
  let recommendations = kept.length > 0 ? kept : [{ replicas: currentReplicas, timestamp: now.toISOString() }];
  let desiredReplicas = currentReplicas;
  let rescaleReason = "";
  let metrics: AutoscalerStatus["currentMetrics"] = [];

  if (input.contenders.length > 0) {
    const message = `${scaleTarget} is also targeted by ${input.contenders.join(", ")}: none of them scales it until only one remains`;
    setCondition(p, "ScalingActive", "False", "AmbiguousSelector", message);
  } else if (currentReplicas === 0 && spec.minReplicas !== 0) {
    setCondition(p, "ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero");
  } else if (currentReplicas > spec.maxReplicas) {
    desiredReplicas = spec.maxReplicas;
    rescaleReason = "Current number of replicas above Spec.MaxReplicas";
    setCondition(p, "ScalingLimited", "True", "TooManyReplicas", "the desired replica count is more than the maximum replica count");
  } else if (currentReplicas < spec.minReplicas) {
    desiredReplicas = spec.minReplicas;
    rescaleReason = "Current number of replicas below Spec.MinReplicas";
    setCondition(p, "ScalingLimited", "True", "TooFewReplicas", "the desired replica count is less than the minimum replica count");
  } else {
    const cpuTarget = cpuTargetOf(spec);
    const options = { ...defaultReplicaCalculatorOptions, ...input.options };
    const calculation = calculateReplicas({ currentReplicas, pods: input.pods, usage: input.usage, target: cpuTarget, now }, options);
    if (!calculation.ok) {
      const message = `the HPA was unable to compute the replica count: ${calculation.message}`;
      if (setCondition(p, "ScalingActive", "False", "FailedGetResourceMetric", message)) p.events.push({ type: "Warning", reason: "FailedGetResourceMetric", message });
    } else {
      const measure = cpuTarget.type === "Utilization" ? "cpu resource utilization (percentage of request)" : "cpu resource";
      setCondition(p, "ScalingActive", "True", "ValidMetricFound", `the HPA was able to successfully calculate a replica count from ${measure}`);
      const utilization = calculation.utilization !== undefined ? { averageUtilization: calculation.utilization } : {};
      metrics = [{ type: "Resource", resource: { name: "cpu", current: { ...utilization, averageValue: `${calculation.averageMillis}m` } } }];
      const stabilized = stabilize(recommendations, calculation.replicas, currentReplicas, spec, now);
      recommendations = stabilized.recommendations;
      if (stabilized.replicas !== calculation.replicas) setCondition(p, "AbleToScale", "True", stabilized.reason, stabilized.message);
      else setCondition(p, "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size");
      const limited = limit(stabilized.replicas, currentReplicas, spec);
      setCondition(p, "ScalingLimited", limited.replicas === stabilized.replicas ? "False" : "True", limited.reason, limited.message);
      desiredReplicas = limited.replicas;
      rescaleReason = desiredReplicas > currentReplicas ? `${measure} above target` : "All metrics below target";
    }
  }

  let lastScaleTime = previous.lastScaleTime;
  if (desiredReplicas !== currentReplicas) {
    lastScaleTime = now.toISOString();
    p.events.push({ type: "Normal", reason: "SuccessfulRescale", message: `New size: ${desiredReplicas}; reason: ${rescaleReason}` });
  }
  return finish(p, base, { currentReplicas, desiredReplicas, lastScaleTime, metrics, recommendations });
}

function cpuTargetOf(spec: HorizontalPodAutoscalerSpec): CpuTarget {
  const target = spec.metrics[0]!.resource.target;
  return target.type === "Utilization"
    ? { type: "Utilization", averageUtilization: target.averageUtilization! }
    : { type: "AverageValue", averageValueMillis: parseCpuMillis(target.averageValue!) };
}

// ---------------------------------------------------------------- stabilization and limits

/**
 * stabilizeRecommendationWithBehaviors: the result may not go above the
 * lowest recommendation of the scale-up window nor below the highest of the
 * scale-down window. The new recommendation is recorded unstabilised; of
 * equal recommendations only the newest matters, so only it is kept.
 */
export function stabilize(
  recommendations: Recommendation[],
  recommended: number,
  currentReplicas: number,
  spec: Pick<HorizontalPodAutoscalerSpec, "behavior">,
  now: Date,
): { replicas: number; recommendations: Recommendation[]; reason: string; message: string } {
  const upCutoff = now.getTime() - spec.behavior.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now.getTime() - spec.behavior.scaleDown.stabilizationWindowSeconds * 1000;
  let upLimit = recommended;
  let downLimit = recommended;
  for (const recommendation of recommendations) {
    const at = Date.parse(recommendation.timestamp);
    if (at > upCutoff) upLimit = Math.min(upLimit, recommendation.replicas);
    if (at > downCutoff) downLimit = Math.max(downLimit, recommendation.replicas);
  }
  const replicas = Math.min(Math.max(currentReplicas, upLimit), downLimit);

  const keepAfter = Math.min(upCutoff, downCutoff);
  const kept = recommendations.filter((recommendation) => Date.parse(recommendation.timestamp) > keepAfter && recommendation.replicas !== recommended);
  const next = [...kept, { replicas: recommended, timestamp: now.toISOString() }];
  return recommended >= currentReplicas
    ? { replicas, recommendations: next, reason: "ScaleUpStabilized", message: "recent recommendations were lower than current one, applying the lowest recent recommendation" }
    : { replicas, recommendations: next, reason: "ScaleDownStabilized", message: "recent recommendations were higher than current one, applying the highest recent recommendation" };
}

/** convertDesiredReplicasWithBehaviorRate without rate policies: only minReplicas and maxReplicas hold a change back. */
function limit(desired: number, current: number, spec: HorizontalPodAutoscalerSpec): { replicas: number; reason: string; message: string } {
  if (desired > current && desired > spec.maxReplicas) {
    return { replicas: spec.maxReplicas, reason: "TooManyReplicas", message: "the desired replica count is more than the maximum replica count" };
  }
  if (desired < current && desired < spec.minReplicas) {
    return { replicas: spec.minReplicas, reason: "TooFewReplicas", message: "the desired replica count is less than the minimum replica count" };
  }
  return { replicas: desired, reason: "DesiredWithinRange", message: "the desired count is within the acceptable range" };
}

// ---------------------------------------------------------------- conditions and health (the one place)

function validEntries<T>(entries: unknown[], schema: z.ZodType<T>): T[] {
  return entries.flatMap((entry) => {
    const parsed = schema.safeParse(entry);
    return parsed.success ? [parsed.data] : [];
  });
}

/** Kubernetes' setConditionInList: the transition time moves only with the status. Returns whether the reason or status changed. */
function setCondition(p: Planning, type: AutoscalerCondition["type"], status: AutoscalerCondition["status"], reason: string, message: string): boolean {
  const index = p.conditions.findIndex((condition) => condition.type === type);
  const current = index === -1 ? undefined : p.conditions[index]!;
  const lastTransitionTime = current && current.status === status ? current.lastTransitionTime : p.now.toISOString();
  const next = { type, status, reason, message, lastTransitionTime };
  if (index === -1) p.conditions.push(next);
  else p.conditions[index] = next;
  return !current || current.status !== status || current.reason !== reason;
}

/** Healthy while it scales on a valid metric; Suspended when Git's zero turned it off; Degraded when it cannot decide. */
function healthOf(conditions: AutoscalerCondition[]): Health {
  const able = conditions.find((condition) => condition.type === "AbleToScale");
  const active = conditions.find((condition) => condition.type === "ScalingActive");
  if (able?.status === "False") return "Degraded";
  if (active?.reason === "ScalingDisabled") return "Suspended";
  if (active?.status === "False") return "Degraded";
  if (active?.status === "True") return "Healthy";
  return "Progressing";
}

const conditionOrder = ["AbleToScale", "ScalingActive", "ScalingLimited"];

function finish(
  p: Planning,
  base: { observedGeneration: number; scaleTarget: string; requeueAfterMs: number },
  fields: { currentReplicas: number | undefined; desiredReplicas: number | undefined; lastScaleTime: string | undefined; metrics: AutoscalerStatus["currentMetrics"]; recommendations: Recommendation[] },
): AutoscalerPlan {
  const conditions = [...p.conditions].sort((a, b) => conditionOrder.indexOf(a.type) - conditionOrder.indexOf(b.type));
  const status: AutoscalerStatus = {
    observedGeneration: base.observedGeneration,
    scaleTarget: base.scaleTarget,
    ...(fields.currentReplicas !== undefined ? { currentReplicas: fields.currentReplicas } : {}),
    ...(fields.desiredReplicas !== undefined ? { desiredReplicas: fields.desiredReplicas } : {}),
    ...(fields.lastScaleTime ? { lastScaleTime: fields.lastScaleTime } : {}),
    currentMetrics: fields.metrics,
    conditions,
    recommendations: fields.recommendations,
    health: healthOf(conditions),
  };
  return { status, events: p.events, requeueAfterMs: base.requeueAfterMs };
}
