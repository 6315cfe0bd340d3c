import type { Filter } from "../framework.ts";
import type { NodeInfo } from "../model.ts";
import { compilePodTerm, podMatchesTerm, topologyValue, type PodTerm } from "../topology.ts";

/**
 * Required pod affinity: the node's domain for every term must already hold a
 * pod that matches all the terms (Kubernetes counts only such pods). The first
 * pod of a group that wants to be near its own kind would never start, so when
 * no pod anywhere matches and the pod matches its own terms, any node that has
 * the topology labels will do.
 */
export const podAffinityReason = "node(s) didn't match pod affinity rules";

export const podAffinityFilter: Filter = {
  name: "podAffinity",
  prepare({ pod }, nodes) {
    const required = pod.spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
    if (!required || required.length === 0) return undefined;
    const terms = required.map((term) => compilePodTerm(term, pod.namespace));
    const domainsPerTerm = domainsWithPodsMatchingAll(terms, nodes);
    const firstOfItsKind = domainsPerTerm.every((domains) => domains.size === 0) && terms.every((term) => podMatchesTerm(term, pod));
    return (node) => {
      let allPresent = true;
      for (let index = 0; index < terms.length; index++) {
        const domain = topologyValue(node, terms[index]!.topologyKey);
        if (domain === undefined) return podAffinityReason;
        if (!domainsPerTerm[index]!.has(domain)) allPresent = false;
      }
      return allPresent || firstOfItsKind ? undefined : podAffinityReason;
    };
  },
};

function domainsWithPodsMatchingAll(terms: readonly PodTerm[], nodes: readonly NodeInfo[]): Set<string>[] {
  const domainsPerTerm = terms.map(() => new Set<string>());
  for (const node of nodes) {
    for (const existing of node.pods) {
      if (!terms.every((term) => podMatchesTerm(term, existing))) continue;
      terms.forEach((term, index) => {
        const domain = topologyValue(node, term.topologyKey);
        if (domain !== undefined) domainsPerTerm[index]!.add(domain);
      });
    }
  }
  return domainsPerTerm;
}
