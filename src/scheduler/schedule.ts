import { preparePod, type NodeCheck, type SchedulerStack } from "./framework.ts";
import type { NodeInfo, NodeScore, PodToSchedule, ScheduleResult } from "./model.ts";
import { describeReasons, sortedReasons } from "./reasons.ts";
import { defaultStack } from "./stack.ts";

export interface ScheduleOptions {
  /** Breaks ties among equally scored nodes at random (like kube-scheduler); without it the lowest node name wins. */
  random?: () => number;
  /** How many of the best nodes to record with their score parts (default 3; 0 records none). */
  recordScores?: number;
}

const spreadStack = defaultStack();

/**
 * One decision: the node for one pod, and why. Pure — it reads only its
 * arguments and changes none of them; the caller books the pod onto the
 * chosen node (assumePod) before deciding the next one.
 */
export function schedule(
  pod: PodToSchedule,
  nodes: readonly NodeInfo[],
  stack: SchedulerStack = spreadStack,
  options: ScheduleOptions = {},
): ScheduleResult {
  const prepared = preparePod(pod);

  const checks: NodeCheck[] = [];
  for (const filter of stack.filters) {
    const check = filter.prepare(prepared, nodes);
    if (check !== undefined) checks.push(check);
  }
  const feasible: NodeInfo[] = [];
  let rejected: Map<string, number> | undefined;
  nodes: for (const node of nodes) {
    for (const check of checks) {
      const reason = check(node);
      if (reason !== undefined) {
        rejected ??= new Map();
        rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
        continue nodes;
      }
    }
    feasible.push(node);
  }
  const reasons = rejected ? Object.fromEntries(sortedReasons(rejected)) : {};

  const count = feasible.length;
  if (count === 0) {
    return { feasibleNodes: 0, reasons, message: describeReasons(reasons, nodes.length) };
  }
  if (count === 1) {
    const node = feasible[0]!.name;
    return { node, feasibleNodes: 1, reasons, message: assignedMessage(pod, node) };
  }

  const totals = new Float64Array(count);
  const parts: { name: string; scores: Float64Array }[] = [];
  for (const { scorer, weight } of stack.scorers) {
    const rate = scorer.prepare(prepared, nodes);
    if (rate === undefined) continue;
    const scores = new Float64Array(count);
    for (let index = 0; index < count; index++) scores[index] = rate(feasible[index]!);
    scorer.normalize(scores, count);
    for (let index = 0; index < count; index++) totals[index]! += weight * scores[index]!;
    parts.push({ name: scorer.name, scores });
  }

  const chosen = options.random ? bestAtRandom(totals, count, options.random) : bestByName(feasible, totals, count);
  const node = feasible[chosen]!.name;
  const recorded = bestIndexes(totals, count, chosen, options.recordScores ?? 3);
  return {
    node,
    feasibleNodes: count,
    reasons,
    message: assignedMessage(pod, node),
    ...(recorded.length > 0 ? { scores: recorded.map((index) => nodeScore(feasible[index]!, totals[index]!, parts, index)) } : {}),
  };
}

function assignedMessage(pod: PodToSchedule, node: string): string {
  return `Successfully assigned ${pod.namespace}/${pod.name} to ${node}`;
}

function bestByName(feasible: readonly NodeInfo[], totals: Float64Array, count: number): number {
  // Numbers first: names (a string comparison each) are compared only among the nodes sharing the top score.
  let top = -Infinity;
  for (let index = 0; index < count; index++) if (totals[index]! > top) top = totals[index]!;
  let best = -1;
  for (let index = 0; index < count; index++) {
    if (totals[index] === top && (best < 0 || feasible[index]!.name < feasible[best]!.name)) best = index;
  }
  return best;
}

/** Reservoir sampling over the nodes sharing the top score: each is equally likely, in one pass. */
function bestAtRandom(totals: Float64Array, count: number, random: () => number): number {
  let best = 0;
  let ties = 1;
  for (let index = 1; index < count; index++) {
    if (totals[index]! > totals[best]!) {
      best = index;
      ties = 1;
    } else if (totals[index] === totals[best]) {
      ties++;
      if (random() * ties < 1) best = index;
    }
  }
  return best;
}

/**
 * The chosen node, then the next best by score (equal scores in the order
 * given: this list explains the choice, it does not make it). A partial
 * selection, not a sort of every node.
 */
function bestIndexes(totals: Float64Array, count: number, chosen: number, limit: number): number[] {
  if (limit <= 0) return [];
  const best = [chosen];
  for (let index = 0; index < count; index++) {
    if (index === chosen) continue;
    if (best.length === limit && !(totals[index]! > totals[best[limit - 1]!]!)) continue;
    let at = best.length;
    while (at > 1 && totals[index]! > totals[best[at - 1]!]!) at--;
    best.splice(at, 0, index);
    if (best.length > limit) best.pop();
  }
  return best;
}

function nodeScore(node: NodeInfo, total: number, parts: readonly { name: string; scores: Float64Array }[], index: number): NodeScore {
  return {
    node: node.name,
    total: twoDecimals(total),
    parts: Object.fromEntries(parts.map((part) => [part.name, twoDecimals(part.scores[index]!)])),
  };
}

function twoDecimals(value: number): number {
  return Math.round(value * 100) / 100;
}
