import type { Filter } from "../framework.ts";

/**
 * A pod whose PersistentVolumeClaim is bound to a node (local-path style: the
 * directory lives on that node's disk) fits only that node. Kubernetes'
 * VolumeBinding plugin gives the same reason for a local volume elsewhere.
 * Claims annotated relocatable are not listed in `boundClaims` by the caller.
 */
export const volumeNodeConflictReason = "node(s) had volume node affinity conflict";

export const volumeBindingFilter: Filter = {
  name: "volumeBinding",
  prepare({ pod }) {
    const bound = pod.boundClaims;
    if (!bound || bound.length === 0) return undefined;
    return (node) => (bound.every((claim) => claim.node === node.name) ? undefined : volumeNodeConflictReason);
  },
};
