import type { NodeSpec, PodSpec } from "../desired/index.ts";
import type { RuntimeName } from "../nodes/index.ts";

/**
 * What the scheduler sees: plain data built by its caller from the desired
 * store and the nodes' reported status. Nothing here reads the store or the
 * clock, so every decision is a function of these values alone.
 */

export type Taint = NonNullable<NodeSpec["taints"]>[number];

/** CPU in millicores, memory in bytes, and a pod count: the dimensions a node hands out. */
export interface Resources {
  cpuMillis: number;
  memoryBytes: number;
  pods: number;
}

/** A pod already bound to a node, as far as spreading, affinity and host ports care. */
export interface PodSummary {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ownerUid?: string;
  /** Host ports it holds, as "port/protocol" ("8080/TCP"). */
  hostPorts?: readonly string[];
}

/** What is known of a node before any pod is counted on it. */
export interface NodeFacts {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  unschedulable: boolean;
  /** The Ready condition is True. */
  ready: boolean;
  runtimes: RuntimeName[];
  /** `spec.capacity` where set, else what the agent reported; pods default to 110 as in Kubernetes (see nodeAllocatable). */
  allocatable: Resources;
}

/**
 * One candidate node: its facts plus running totals over the pods bound to
 * it. The totals are kept by assumePod (newNodeInfo builds a node from its
 * bound pods the same way), so they cannot disagree with `pods`.
 */
export interface NodeInfo extends NodeFacts {
  /** Sum of the bound pods' requests: what the fit filter checks against. */
  requested: Resources;
  /**
   * The same sum with a missing CPU or memory request counted as 100m / 200Mi
   * (see scoringRequests): what the allocation scorers rank by, so that pods
   * without requests still spread.
   */
  scoringRequested: { cpuMillis: number; memoryBytes: number };
  pods: PodSummary[];
  /** How many of `pods` each ownerUid has: replica spreading looks this up instead of walking every pod of every node. */
  podsPerOwner: Map<string, number>;
}

export interface PodToSchedule {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ownerUid?: string;
  spec: PodSpec;
  /** The pod's PersistentVolumeClaims already bound to a node (and not relocatable): the pod must go there. */
  boundClaims?: readonly { claim: string; node: string }[];
}

export interface NodeScore {
  node: string;
  /** Σ weight × part. */
  total: number;
  /** Each scorer's normalised score, 0–100, before weighting. */
  parts: Record<string, number>;
}

export interface ScheduleResult {
  /** The chosen node; absent when no node passed every filter. */
  node?: string;
  /** How many nodes passed every filter. */
  feasibleNodes: number;
  /** Each reason a filter gave, with how many nodes it rejected; a node counts once, for the first filter it failed. */
  reasons: Record<string, number>;
  /** "0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}." or "Successfully assigned ...". */
  message: string;
  /** The best-ranked nodes, best first (absent when nothing was scored: no node, or only one feasible). */
  scores?: NodeScore[];
}
