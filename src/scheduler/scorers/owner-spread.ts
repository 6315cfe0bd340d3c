import type { Scorer } from "../framework.ts";
import { reverseScaleToMax } from "../normalize.ts";

/**
 * Replicas apart (kube-scheduler's default PodTopologySpread / the older
 * SelectorSpread, Nomad's job anti-affinity): the fewer pods of the same owner
 * a node already runs, the better, so that losing one node loses few
 * replicas. Pods without an owner skip it.
 */
export const ownerSpreadScorer: Scorer = {
  name: "ownerSpread",
  prepare({ pod }) {
    const ownerUid = pod.ownerUid;
    if (ownerUid === undefined) return undefined;
    return (node) => node.podsPerOwner.get(ownerUid) ?? 0;
  },
  normalize: reverseScaleToMax,
};
