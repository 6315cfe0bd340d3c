import type { SchedulerStack } from "./framework.ts";
import { nodeAffinityFilter } from "./filters/node-affinity.ts";
import { nodeNameFilter } from "./filters/node-name.ts";
import { nodePortsFilter } from "./filters/node-ports.ts";
import { nodeReadyFilter } from "./filters/node-ready.ts";
import { nodeUnschedulableFilter } from "./filters/node-unschedulable.ts";
import { podAffinityFilter } from "./filters/pod-affinity.ts";
import { podAntiAffinityFilter } from "./filters/pod-anti-affinity.ts";
import { resourcesFitFilter } from "./filters/resources-fit.ts";
import { runtimeFilter } from "./filters/runtime.ts";
import { taintTolerationFilter } from "./filters/taint-toleration.ts";
import { volumeBindingFilter } from "./filters/volume-binding.ts";
import { leastAllocatedScorer } from "./scorers/least-allocated.ts";
import { mostAllocatedScorer } from "./scorers/most-allocated.ts";
import { nodeAffinityScorer } from "./scorers/node-affinity.ts";
import { ownerSpreadScorer } from "./scorers/owner-spread.ts";
import { podAffinityScorer } from "./scorers/pod-affinity.ts";
import { taintTolerationScorer } from "./scorers/taint-toleration.ts";

/**
 * The scheduler, assembled: every filter a pod passes through and every
 * scorer that ranks the survivors, in one place (DESIGN.md, house style 9).
 *
 * A decision (schedule.ts) runs each filter's per-pod `prepare` once, then
 * walks the nodes; a node drops out at the first filter that gives a reason,
 * and that reason is what the pod's status counts. With one node left there
 * is nothing to rank. Otherwise each scorer rates the feasible nodes, its
 * raw numbers are normalised to 0–100 and multiplied by its weight, and the
 * highest sum wins; ties go to the lowest node name, or to a random one when
 * a random source is injected.
 */

export type SchedulingStrategy = "spread" | "binpack";

export interface StackOptions {
  /**
   * "spread" (the default) ranks the emptiest nodes first and keeps replicas
   * of one owner apart; "binpack" fills the fullest node that fits first.
   */
  strategy?: SchedulingStrategy;
}

export function defaultStack(options: StackOptions = {}): SchedulerStack {
  const strategy = options.strategy ?? "spread";
  return {
    // Order matters twice: cheap filters that reject many nodes go first so
    // the costly ones see fewer nodes, and the first failing filter is the
    // reason a user reads, so lasting facts about a node ("not ready",
    // "tainted") come before momentary ones ("Insufficient cpu").
    filters: [
      // One string comparison; with spec.nodeName set it leaves a single node, and the rest of the chain still checks that node.
      nodeNameFilter,
      // Booleans on the node, skipped outright for pods that tolerate the matching node.kubernetes.io taint.
      nodeReadyFilter,
      nodeUnschedulableFilter,
      // Only image pods; a look into a list of at most three names.
      runtimeFilter,
      // Only pods with a nodeSelector or required node affinity: a few label lookups, often very selective (a zone, a GPU label).
      nodeAffinityFilter,
      // Usually no taints at all; otherwise taints × tolerations, both short lists.
      taintTolerationFilter,
      // Only pods with a claim bound to a node: a lasting fact (the data is on that disk), so before the momentary ones.
      volumeBindingFilter,
      // Three comparisons against the node's running totals: changes as pods bind, so reported after the lasting reasons.
      resourcesFitFilter,
      // Only pods with host ports; walks the node's pods.
      nodePortsFilter,
      // Only pods with required pod (anti-)affinity; their prepare walks every bound pod in the cluster once, so they run last, on the fewest nodes.
      podAffinityFilter,
      podAntiAffinityFilter,
    ],
    // Weights follow kube-scheduler's defaults: a taint's PreferNoSchedule is
    // the operator's word about the node and weighs most (3); what the pod
    // asks for (node and pod affinity) and keeping replicas apart weigh 2;
    // the resource balance is the tie-breaker among otherwise equal nodes (1).
    scorers:
      strategy === "binpack"
        ? [
            // Replica spreading is left out on purpose: it would undo the packing (each scorer is 0–100, so no weight
            // makes it a mere tie-breaker). Pods that must not share a node say so with pod anti-affinity.
            { scorer: mostAllocatedScorer, weight: 1 },
            { scorer: nodeAffinityScorer, weight: 2 },
            { scorer: podAffinityScorer, weight: 2 },
            { scorer: taintTolerationScorer, weight: 3 },
          ]
        : [
            { scorer: leastAllocatedScorer, weight: 1 },
            { scorer: ownerSpreadScorer, weight: 2 },
            { scorer: nodeAffinityScorer, weight: 2 },
            { scorer: podAffinityScorer, weight: 2 },
            { scorer: taintTolerationScorer, weight: 3 },
          ],
  };
}
