import { podSpecSchema } from "../../src/desired/index.ts";
import type { NodeInfo, PodToSchedule } from "../../src/scheduler/index.ts";
import { preparePod } from "../../src/scheduler/framework.ts";
import type { Filter, Scorer } from "../../src/scheduler/index.ts";

/** Scheduler fixtures: nodes and pods as plain data, pod specs through the real schema so defaults apply. */

const gi = 2 ** 30;

/**
 * A ready 4-CPU / 8Gi node with room for 110 pods and nothing on it. Totals
 * given as overrides stand for pods not listed; scoring totals default to the
 * plain ones and the per-owner counts to those of the listed pods.
 */
export function node(name: string, overrides: Partial<NodeInfo> = {}): NodeInfo {
  const base = {
    name,
    labels: {},
    taints: [],
    unschedulable: false,
    ready: true,
    runtimes: ["process" as const],
    allocatable: { cpuMillis: 4000, memoryBytes: 8 * gi, pods: 110 },
    requested: { cpuMillis: 0, memoryBytes: 0, pods: 0 },
    pods: [],
    ...overrides,
  };
  const podsPerOwner = new Map<string, number>();
  for (const bound of base.pods) {
    if (bound.ownerUid !== undefined) podsPerOwner.set(bound.ownerUid, (podsPerOwner.get(bound.ownerUid) ?? 0) + 1);
  }
  return {
    scoringRequested: { cpuMillis: base.requested.cpuMillis, memoryBytes: base.requested.memoryBytes },
    podsPerOwner,
    ...base,
  };
}

type SpecInput = Record<string, unknown>;

/** A pod with one host-process container, and whatever spec fields are given (parsed, so defaults and limit→request apply). */
export function pod(name: string, spec: SpecInput = {}, meta: Partial<Omit<PodToSchedule, "spec">> = {}): PodToSchedule {
  return {
    namespace: "default",
    name,
    labels: {},
    ...meta,
    spec: podSpecSchema.parse({ containers: [{ name: "main", command: ["sleep", "infinity"] }], ...spec }),
  };
}

/** A pod whose single container requests this much. */
export function requesting(name: string, requests: { cpu?: string; memory?: string }, spec: SpecInput = {}, meta: Partial<Omit<PodToSchedule, "spec">> = {}): PodToSchedule {
  return pod(name, { containers: [{ name: "main", command: ["sleep", "infinity"], resources: { requests } }], ...spec }, meta);
}

/** A filter's verdict for one pod on one node (the node is the whole cluster unless `nodes` says otherwise). */
export function verdict(filter: Filter, subject: PodToSchedule, candidate: NodeInfo, nodes: NodeInfo[] = [candidate]): string | undefined {
  return filter.prepare(preparePod(subject), nodes)?.(candidate);
}

/** A scorer's normalised scores for the given nodes, by name; undefined when it skips the pod. */
export function normalisedScores(scorer: Scorer, subject: PodToSchedule, nodes: NodeInfo[]): Record<string, number> | undefined {
  const rate = scorer.prepare(preparePod(subject), nodes);
  if (rate === undefined) return undefined;
  const scores = Float64Array.from(nodes, (candidate) => rate(candidate));
  scorer.normalize(scores, nodes.length);
  return Object.fromEntries(nodes.map((candidate, index) => [candidate.name, Math.round(scores[index]! * 100) / 100]));
}

/** Raw scores, before normalisation. */
export function rawScores(scorer: Scorer, subject: PodToSchedule, nodes: NodeInfo[]): Record<string, number> | undefined {
  const rate = scorer.prepare(preparePod(subject), nodes);
  if (rate === undefined) return undefined;
  return Object.fromEntries(nodes.map((candidate) => [candidate.name, rate(candidate)]));
}

export const GiB = gi;
export const MiB = 2 ** 20;
