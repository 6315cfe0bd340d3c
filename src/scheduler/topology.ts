import type { LabelSelector } from "../desired/index.ts";
import { labelSelectorMatcher, matches, type LabelMatcher } from "./label-match.ts";
import type { NodeInfo } from "./model.ts";

/**
 * Pod (anti-)affinity terms: "pods matching this selector, in these
 * namespaces, within the same topology domain" — the domain being the value
 * of the node label `topologyKey` (a zone, a rack), or the node itself.
 */

export const hostnameKey = "kubernetes.io/hostname";

/** The node's domain for a key; `kubernetes.io/hostname` is the node name when the node has no such label. */
export function topologyValue(node: NodeInfo, key: string): string | undefined {
  const value = Object.hasOwn(node.labels, key) ? node.labels[key] : undefined;
  if (value === undefined && key === hostnameKey) return node.name;
  return value;
}

export interface PodTerm {
  readonly matcher: LabelMatcher;
  readonly namespaces: readonly string[];
  readonly topologyKey: string;
  /** 1 for required terms; the preference's weight otherwise. */
  readonly weight: number;
}

export function compilePodTerm(
  term: { labelSelector: LabelSelector; namespaces?: string[] | undefined; topologyKey: string },
  podNamespace: string,
  weight = 1,
): PodTerm {
  return {
    matcher: labelSelectorMatcher(term.labelSelector),
    // No namespaces means the pod's own, as in Kubernetes.
    namespaces: term.namespaces && term.namespaces.length > 0 ? term.namespaces : [podNamespace],
    topologyKey: term.topologyKey,
    weight,
  };
}

export function podMatchesTerm(term: PodTerm, pod: { namespace: string; labels: Record<string, string> }): boolean {
  return term.namespaces.includes(pod.namespace) && matches(term.matcher, pod.labels);
}

/** How many pods matching the term run in each domain, across all nodes (one pass over every bound pod). */
export function matchingPodsByDomain(term: PodTerm, nodes: readonly NodeInfo[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of nodes) {
    if (node.pods.length === 0) continue;
    const domain = topologyValue(node, term.topologyKey);
    if (domain === undefined) continue;
    let found = 0;
    for (const pod of node.pods) {
      if (podMatchesTerm(term, pod)) found++;
    }
    if (found > 0) counts.set(domain, (counts.get(domain) ?? 0) + found);
  }
  return counts;
}
