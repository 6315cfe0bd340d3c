import type { Filter } from "../framework.ts";
import { expressionsMatcher, matchLabelsMatcher, matches, type LabelMatcher } from "../label-match.ts";

/**
 * spec.nodeSelector and required node affinity: the node's labels must carry
 * every nodeSelector label, and satisfy at least one nodeSelectorTerm (terms
 * ORed, the expressions within a term ANDed), as in Kubernetes.
 */
export const nodeAffinityReason = "node(s) didn't match Pod's node affinity/selector";

export const nodeAffinityFilter: Filter = {
  name: "nodeAffinity",
  prepare({ pod }) {
    const selector = pod.spec.nodeSelector && Object.keys(pod.spec.nodeSelector).length > 0 ? matchLabelsMatcher(pod.spec.nodeSelector) : undefined;
    const required = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    const terms: LabelMatcher[] | undefined = required?.nodeSelectorTerms.map((term) => expressionsMatcher(term.matchExpressions));
    if (selector === undefined && terms === undefined) return undefined;
    return (node) => {
      if (selector !== undefined && !matches(selector, node.labels)) return nodeAffinityReason;
      if (terms !== undefined && !terms.some((term) => matches(term, node.labels))) return nodeAffinityReason;
      return undefined;
    };
  },
};
