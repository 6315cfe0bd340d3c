/**
 * The ways a scorer's raw numbers become 0–100 (kube-scheduler's
 * NormalizeScore), so that weights in stack.ts compare like with like.
 */

/** The raw score is already a percentage (the allocation scorers). */
export function alreadyPercent(_scores: Float64Array, _count: number): void {}

/** More is better: the best node gets 100, a node with 0 gets 0 (preferred node affinity weights). */
export function scaleToMax(scores: Float64Array, count: number): void {
  let max = 0;
  for (let index = 0; index < count; index++) max = Math.max(max, scores[index]!);
  for (let index = 0; index < count; index++) scores[index] = max === 0 ? 0 : (scores[index]! * 100) / max;
}

/** Fewer is better: a node with none gets 100, the node with most gets 0 (counts of same-owner pods, untolerated taints). */
export function reverseScaleToMax(scores: Float64Array, count: number): void {
  let max = 0;
  for (let index = 0; index < count; index++) max = Math.max(max, scores[index]!);
  for (let index = 0; index < count; index++) scores[index] = max === 0 ? 100 : ((max - scores[index]!) * 100) / max;
}

/** Signed raw scores (affinity minus anti-affinity): the lowest gets 0, the highest 100; all equal gets 0. */
export function minMax(scores: Float64Array, count: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let index = 0; index < count; index++) {
    min = Math.min(min, scores[index]!);
    max = Math.max(max, scores[index]!);
  }
  for (let index = 0; index < count; index++) scores[index] = max === min ? 0 : ((scores[index]! - min) * 100) / (max - min);
}
