import type { Scorer } from "../framework.ts";
import { expressionsMatcher, matches } from "../label-match.ts";
import { scaleToMax } from "../normalize.ts";

/** Preferred node affinity: the sum of the weights of the preferences a node's labels satisfy. */
export const nodeAffinityScorer: Scorer = {
  name: "nodeAffinity",
  prepare({ pod }) {
    const preferred = pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
    if (!preferred || preferred.length === 0) return undefined;
    const preferences = preferred.map((entry) => ({ weight: entry.weight, matcher: expressionsMatcher(entry.preference.matchExpressions) }));
    return (node) => {
      let sum = 0;
      for (const preference of preferences) {
        if (matches(preference.matcher, node.labels)) sum += preference.weight;
      }
      return sum;
    };
  },
  normalize: scaleToMax,
};
