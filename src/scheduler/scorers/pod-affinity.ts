import type { Scorer } from "../framework.ts";
import { minMax } from "../normalize.ts";
import { compilePodTerm, matchingPodsByDomain, topologyValue, type PodTerm } from "../topology.ts";

/**
 * Preferred pod affinity and anti-affinity (kube-scheduler's InterPodAffinity
 * score): for each preferred term, its weight times the number of matching
 * pods in the node's domain, added for affinity and taken away for
 * anti-affinity. Signed, so normalised min to max.
 */
export const podAffinityScorer: Scorer = {
  name: "podAffinity",
  prepare({ pod }, nodes) {
    const affinity = pod.spec.affinity;
    const weighted: { term: PodTerm; sign: number }[] = [];
    for (const preference of affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
      weighted.push({ term: compilePodTerm(preference.podAffinityTerm, pod.namespace, preference.weight), sign: 1 });
    }
    for (const preference of affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
      weighted.push({ term: compilePodTerm(preference.podAffinityTerm, pod.namespace, preference.weight), sign: -1 });
    }
    if (weighted.length === 0) return undefined;
    const counted = weighted.map(({ term, sign }) => ({ term, sign, counts: matchingPodsByDomain(term, nodes) }));
    return (node) => {
      let score = 0;
      for (const { term, sign, counts } of counted) {
        const domain = topologyValue(node, term.topologyKey);
        if (domain !== undefined) score += sign * term.weight * (counts.get(domain) ?? 0);
      }
      return score;
    };
  },
  normalize: minMax,
};
