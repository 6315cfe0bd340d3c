import type { Scorer } from "../framework.ts";
import { alreadyPercent } from "../normalize.ts";

/**
 * Spreading by load (kube-scheduler's NodeResourcesFit LeastAllocated): the
 * share of CPU and of memory left free once the pod is placed, averaged. The
 * emptiest node wins, which keeps headroom everywhere and losses small when a
 * node dies. Counts scoring requests, so pods without requests count too.
 */
export const leastAllocatedScorer: Scorer = {
  name: "leastAllocated",
  prepare({ scoringRequests }) {
    const cpuMillis = scoringRequests.cpuMillis;
    const memoryBytes = scoringRequests.memoryBytes;
    return (node) => {
      const requested = node.scoringRequested;
      return (freePercent(node.allocatable.cpuMillis, requested.cpuMillis + cpuMillis) +
        freePercent(node.allocatable.memoryBytes, requested.memoryBytes + memoryBytes)) / 2;
    };
  },
  normalize: alreadyPercent,
};

function freePercent(capacity: number, requested: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return ((capacity - requested) * 100) / capacity;
}
