import { z } from "zod";
import { parseCpuMillis, type PodSpec, type StoredObject } from "../desired/index.ts";
import { podFacts } from "./replicaset-plan.ts";

/**
 * How many replicas a CPU target asks for, pure: Kubernetes'
 * pkg/controller/podautoscaler/replica_calculator.go (GetResourceReplicas,
 * GetRawResourceReplicas, groupPods) and metrics/utilization.go, step for
 * step, with the node agents' live samples in place of metrics-server.
 */

/** CPU a pod's containers used over the agent's last sampling interval, in millicores. */
export interface PodCpuUsage {
  containers: { name: string; cpuMillis: number }[];
}

/** Live usage by pod uid; a pod absent here has no metric. */
export type PodUsageByUid = ReadonlyMap<string, PodCpuUsage>;

export type CpuTarget = { type: "Utilization"; averageUtilization: number } | { type: "AverageValue"; averageValueMillis: number };

export interface ReplicaCalculatorOptions {
  /** No change while usage is within this fraction of the target (Kubernetes' --horizontal-pod-autoscaler-tolerance). */
  tolerance: number;
  /** A pod this young has its CPU sample distrusted unless it has been ready for a whole metric window. */
  cpuInitializationPeriodMs: number;
  /**
   * How long after turning ready a pod's sample is trustworthy. The agent
   * samples every 10 s and its first sample of a process reads 0 (it has no
   * earlier reading to difference against), so two samples plus delivery.
   */
  metricWindowMs: number;
  /** A pod not ready that turned unready this soon after starting has never been ready. */
  delayOfInitialReadinessStatusMs: number;
}

/** Kubernetes' controller-manager defaults, with a metric window fitted to capstan's agent. */
export const defaultReplicaCalculatorOptions: ReplicaCalculatorOptions = {
  tolerance: 0.1,
  cpuInitializationPeriodMs: 5 * 60_000,
  metricWindowMs: 25_000,
  delayOfInitialReadinessStatusMs: 30_000,
};

export type ReplicaCalculation =
  | {
      ok: true;
      replicas: number;
      /** Percent of the requests, from the pods with a trusted sample (absent for an AverageValue target). */
      utilization?: number;
      /** Millicores per pod, from the same pods. */
      averageMillis: number;
    }
  | { ok: false; message: string };

export interface ReplicaCalculatorInput {
  currentReplicas: number;
  /** Every live pod the target's selector selects. */
  pods: StoredObject[];
  usage: PodUsageByUid;
  target: CpuTarget;
  now: Date;
}

// ---------------------------------------------------------------- grouping pods

const podStatusView = z.object({
  startTime: z.string().nullish().catch(null),
  conditions: z.array(z.object({ type: z.string(), status: z.string(), lastTransitionTime: z.string().nullish() })).catch([]),
});

type PodGroup = "ready" | "unready" | "missing" | "ignored";

/** Kubernetes' groupPods for the cpu resource. */
function groupOf(pod: StoredObject, usage: PodUsageByUid, now: number, options: ReplicaCalculatorOptions): PodGroup {
  const facts = podFacts(pod);
  // Succeeded pods use nothing and count for nothing, as Failed ones.
  if (facts.terminating || facts.phase === "Failed" || facts.phase === "Succeeded") return "ignored";
  if (facts.phase === "Pending") return "unready";
  if (podCpuMillis(pod, usage) === undefined) return "missing";
  const status = podStatusView.parse(pod.status);
  const readyCondition = status.conditions.find((condition) => condition.type === "Ready");
  const startTime = parseTime(status.startTime);
  // A ready pod whose transition the node link did not time is taken as ready since it started.
  const transition = parseTime(readyCondition?.lastTransitionTime) ?? (facts.ready ? startTime : null);
  if (!readyCondition || startTime === null || transition === null) return "unready";
  if (startTime + options.cpuInitializationPeriodMs > now) {
    return !facts.ready || now < transition + options.metricWindowMs ? "unready" : "ready";
  }
  return !facts.ready && startTime + options.delayOfInitialReadinessStatusMs > transition ? "unready" : "ready";
}

function parseTime(value: string | null | undefined): number | null {
  if (!value) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : time;
}

/** The pod's CPU use: the sum over its containers, or undefined unless every container was sampled. */
function podCpuMillis(pod: StoredObject, usage: PodUsageByUid): number | undefined {
  const sampled = usage.get(pod.uid);
  if (!sampled) return undefined;
  let total = 0;
  for (const container of (pod.spec as PodSpec).containers) {
    const reading = sampled.containers.find((candidate) => candidate.name === container.name);
    if (!reading) return undefined;
    total += reading.cpuMillis;
  }
  return total;
}

/** Kubernetes' calculatePodRequests: every container must request cpu, or utilization means nothing. */
function podRequests(pods: StoredObject[]): { ok: true; millis: Map<string, number> } | { ok: false; message: string } {
  const millis = new Map<string, number>();
  for (const pod of pods) {
    let total = 0;
    for (const container of (pod.spec as PodSpec).containers) {
      const request = container.resources?.requests?.cpu;
      if (request === undefined) return { ok: false, message: `missing request for cpu in container ${container.name} of Pod ${pod.name}` };
      total += parseCpuMillis(request);
    }
    millis.set(pod.uid, total);
  }
  return { ok: true, millis };
}

// ---------------------------------------------------------------- the calculation

interface Sample {
  uid: string;
  millis: number;
}

/** usageRatio > 1 asks for more pods. Utilization is an integer percent, as Kubernetes rounds it. */
function usageRatio(samples: Sample[], requests: Map<string, number>, target: CpuTarget): { ratio: number; utilization?: number; averageMillis: number } | string {
  const total = samples.reduce((sum, sample) => sum + sample.millis, 0);
  const averageMillis = Math.trunc(total / samples.length);
  if (target.type === "AverageValue") return { ratio: averageMillis / target.averageValueMillis, averageMillis };
  const requested = samples.reduce((sum, sample) => sum + (requests.get(sample.uid) ?? 0), 0);
  if (requested === 0) return "the pods request no cpu, so their utilization is undefined";
  const utilization = Math.trunc((total * 100) / requested);
  return { ratio: utilization / target.averageUtilization, utilization, averageMillis };
}

export function calculateReplicas(input: ReplicaCalculatorInput, options: ReplicaCalculatorOptions = defaultReplicaCalculatorOptions): ReplicaCalculation {
  const { currentReplicas, pods, usage, target } = input;
  if (pods.length === 0) return { ok: false, message: "no pods returned by selector while calculating replica count" };
  const requests = podRequests(pods);
  if (target.type === "Utilization" && !requests.ok) return { ok: false, message: requests.message };
  const requestMillis = requests.ok ? requests.millis : new Map<string, number>();

  const groups = pods.map((pod) => ({ pod, group: groupOf(pod, usage, input.now.getTime(), options) }));
  const ready: Sample[] = groups.filter(({ group }) => group === "ready").map(({ pod }) => ({ uid: pod.uid, millis: podCpuMillis(pod, usage)! }));
  const unready = groups.filter(({ group }) => group === "unready").map(({ pod }) => pod.uid);
  const missing = groups.filter(({ group }) => group === "missing").map(({ pod }) => pod.uid);
  if (ready.length === 0) return { ok: false, message: "did not receive metrics for targeted pods (pods might be unready)" };

  const first = usageRatio(ready, requestMillis, target);
  if (typeof first === "string") return { ok: false, message: first };
  const measured = { utilization: first.utilization, averageMillis: first.averageMillis };
  const unchanged = { ok: true as const, replicas: currentReplicas, ...measured };

  const scaleUpWithUnready = unready.length > 0 && first.ratio > 1;
  if (!scaleUpWithUnready && missing.length === 0) {
    if (Math.abs(1 - first.ratio) <= options.tolerance) return unchanged;
    return { ok: true, replicas: Math.ceil(first.ratio * ready.length), ...measured };
  }

  // The conservative assumption for pods without a trusted sample: whichever holds the change back.
  const adjusted = [...ready];
  if (first.ratio < 1) {
    for (const uid of missing) {
      const fullUse =
        target.type === "Utilization"
          ? ((requestMillis.get(uid) ?? 0) * Math.max(100, target.averageUtilization)) / 100
          : target.averageValueMillis;
      adjusted.push({ uid, millis: fullUse });
    }
  } else if (first.ratio > 1) {
    for (const uid of missing) adjusted.push({ uid, millis: 0 });
  }
  if (scaleUpWithUnready) for (const uid of unready) adjusted.push({ uid, millis: 0 });

  const second = usageRatio(adjusted, requestMillis, target);
  if (typeof second === "string") return { ok: false, message: second };
  // Too small a change, or the assumption turned the direction around: stay.
  if (
    Math.abs(1 - second.ratio) <= options.tolerance ||
    (first.ratio < 1 && second.ratio > 1) ||
    (first.ratio > 1 && second.ratio < 1)
  ) {
    return unchanged;
  }
  const replicas = Math.ceil(second.ratio * adjusted.length);
  if ((second.ratio < 1 && replicas > currentReplicas) || (second.ratio > 1 && replicas < currentReplicas)) return unchanged;
  return { ok: true, replicas, ...measured };
}
