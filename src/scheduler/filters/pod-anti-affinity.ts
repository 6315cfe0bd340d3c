import type { Filter } from "../framework.ts";
import { compilePodTerm, matchingPodsByDomain, topologyValue } from "../topology.ts";

/**
 * Required pod anti-affinity: no pod matching a term may already run in the
 * node's domain for that term (with topologyKey kubernetes.io/hostname, on the
 * node itself). A node without the topology label is in no domain and passes.
 *
 * Only the incoming pod's own terms are checked: bound pods are summaries
 * without their affinity, so an existing pod's anti-affinity against the
 * newcomer is not (Kubernetes checks both ways). Replicas that must keep apart
 * carry the same term each, which covers the common case.
 */
export const podAntiAffinityReason = "node(s) didn't match pod anti-affinity rules";

export const podAntiAffinityFilter: Filter = {
  name: "podAntiAffinity",
  prepare({ pod }, nodes) {
    const required = pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    if (!required || required.length === 0) return undefined;
    const terms = required.map((term) => compilePodTerm(term, pod.namespace));
    const occupied = terms.map((term) => matchingPodsByDomain(term, nodes));
    if (occupied.every((domains) => domains.size === 0)) return undefined;
    return (node) => {
      for (let index = 0; index < terms.length; index++) {
        const domain = topologyValue(node, terms[index]!.topologyKey);
        if (domain !== undefined && occupied[index]!.has(domain)) return podAntiAffinityReason;
      }
      return undefined;
    };
  },
};
