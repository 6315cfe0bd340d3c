import type { Filter } from "../framework.ts";
import type { Taint } from "../model.ts";
import { anyToleratesTaint } from "../tolerations.ts";

/**
 * A node's NoSchedule and NoExecute taints keep off every pod that does not
 * tolerate them all. PreferNoSchedule only lowers the node's score (see
 * scorers/taint-toleration.ts). The reason names the first untolerated taint.
 */
export function untoleratedTaintReason(taint: Taint): string {
  let reason = reasonByTaint.get(taint);
  if (reason === undefined) {
    reason = `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ""}}`;
    reasonByTaint.set(taint, reason);
  }
  return reason;
}

// Taint objects live as long as their NodeInfo, so each reason string is built once, not per pod.
const reasonByTaint = new WeakMap<Taint, string>();

export const taintTolerationFilter: Filter = {
  name: "taintToleration",
  prepare({ tolerations }) {
    return (node) => {
      for (const taint of node.taints) {
        if (taint.effect === "PreferNoSchedule") continue;
        if (!anyToleratesTaint(tolerations, taint)) return untoleratedTaintReason(taint);
      }
      return undefined;
    };
  },
};
