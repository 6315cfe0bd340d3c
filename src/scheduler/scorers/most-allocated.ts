import type { Scorer } from "../framework.ts";
import { alreadyPercent } from "../normalize.ts";

/**
 * Bin packing (kube-scheduler's NodeResourcesFit MostAllocated, Nomad's
 * default binpack): the share of CPU and of memory in use once the pod is
 * placed, averaged. The fullest node that still fits wins, so pods fill one
 * node before the next and whole nodes stay free for big pods or to be
 * switched off.
 */
export const mostAllocatedScorer: Scorer = {
  name: "mostAllocated",
  prepare({ scoringRequests }) {
    const cpuMillis = scoringRequests.cpuMillis;
    const memoryBytes = scoringRequests.memoryBytes;
    return (node) => {
      const requested = node.scoringRequested;
      return (usedPercent(node.allocatable.cpuMillis, requested.cpuMillis + cpuMillis) +
        usedPercent(node.allocatable.memoryBytes, requested.memoryBytes + memoryBytes)) / 2;
    };
  },
  normalize: alreadyPercent,
};

function usedPercent(capacity: number, requested: number): number {
  if (capacity <= 0) return 0;
  // Only pods without requests can overshoot (counted at their scoring defaults); such a node is simply full.
  return (Math.min(requested, capacity) * 100) / capacity;
}
