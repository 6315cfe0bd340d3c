import type { Filter } from "../framework.ts";
import { anyToleratesTaint, unschedulableTaint } from "../tolerations.ts";

/** A cordoned node (spec.unschedulable) takes only pods that tolerate node.kubernetes.io/unschedulable. */
export const unschedulableReason = "node(s) were unschedulable";

export const nodeUnschedulableFilter: Filter = {
  name: "nodeUnschedulable",
  prepare({ tolerations }) {
    if (anyToleratesTaint(tolerations, unschedulableTaint)) return undefined;
    return (node) => (node.unschedulable ? unschedulableReason : undefined);
  },
};
