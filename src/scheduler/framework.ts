import type { Toleration } from "../desired/index.ts";
import type { NodeInfo, PodToSchedule } from "./model.ts";
import { podDemand } from "./requests.ts";

/**
 * The shapes of the chain (kube-scheduler's framework, reduced to two
 * extension points). A filter or scorer does its per-pod work once in
 * `prepare` — parsing quantities, compiling selectors, counting pods per
 * topology domain — and returns a small closure that runs once per node. A
 * `prepare` that returns undefined means "nothing to check for this pod"
 * (kube-scheduler's PreFilter Skip), and the node loop never calls it.
 */

/** The pod with what every link of the chain needs, computed once per decision. */
export interface PreparedPod {
  readonly pod: PodToSchedule;
  /** What must fit: see podRequests. */
  readonly requests: { readonly cpuMillis: number; readonly memoryBytes: number };
  /** What the allocation scorers count: see scoringRequests. */
  readonly scoringRequests: { readonly cpuMillis: number; readonly memoryBytes: number };
  readonly tolerations: readonly Toleration[];
  readonly hostPorts: readonly string[];
}

export function preparePod(pod: PodToSchedule): PreparedPod {
  const demand = podDemand(pod.spec);
  return {
    pod,
    requests: demand.requests,
    scoringRequests: demand.scoringRequests,
    tolerations: pod.spec.tolerations ?? [],
    hostPorts: demand.hostPorts,
  };
}

/** Why the node cannot take the pod, or undefined when it can. */
export type NodeCheck = (node: NodeInfo) => string | undefined;

export interface Filter {
  readonly name: string;
  /** Once per pod, with every candidate node (for filters that count pods across topology domains). */
  prepare(pod: PreparedPod, nodes: readonly NodeInfo[]): NodeCheck | undefined;
}

/** A raw score; only its order among the feasible nodes matters until the scorer's `normalize`. */
export type NodeRating = (node: NodeInfo) => number;

export interface Scorer {
  readonly name: string;
  /** Once per pod, with every candidate node; the returned rating is called for feasible nodes only. */
  prepare(pod: PreparedPod, nodes: readonly NodeInfo[]): NodeRating | undefined;
  /** Turns the raw scores of the feasible nodes (the first `count` entries) into 0–100, in place. */
  normalize(scores: Float64Array, count: number): void;
}

export interface WeightedScorer {
  readonly scorer: Scorer;
  readonly weight: number;
}

/** A configured scheduler: filters in the order they run, then weighted scorers. */
export interface SchedulerStack {
  readonly filters: readonly Filter[];
  readonly scorers: readonly WeightedScorer[];
}
