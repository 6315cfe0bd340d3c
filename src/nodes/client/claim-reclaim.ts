import { reclaimPolicyOf, type PodSpec, type StoredObject } from "../../desired/index.ts";
import type { ClaimRef } from "../protocol.ts";

/**
 * What to do with deleted PersistentVolumeClaims that still hold their
 * finalizer (they were bound: some node has a directory for them), decided
 * from the store alone:
 *
 * - reclaim policy Retain: nothing on disk changes; forget the claim.
 * - a live claim of the same name exists (deleted and made again, say by a
 *   StatefulSet scaling down and up): the directory now holds the new claim's
 *   data, so it is kept, and the old claim forgotten.
 * - Delete: each node that holds a directory (and still exists) is asked to
 *   remove it, but only once no pod bound to that node mounts the claim; the
 *   agent checks again on its side. The claim is forgotten when every node
 *   has confirmed.
 */
export interface ReclaimPlan {
  /** Claims whose finalizer's work is done: purge them. */
  purge: StoredObject[];
  /** Per claim uid, the nodes whose agents must remove its directory first. */
  remove: { claim: StoredObject; ref: ClaimRef; nodes: string[] }[];
  /** Claims still mounted by a pod: nothing to do until it is gone. */
  waiting: number;
}

export function planClaimReclaim(input: {
  deleted: readonly StoredObject[];
  live: readonly StoredObject[];
  pods: readonly StoredObject[];
  nodes: ReadonlySet<string>;
}): ReclaimPlan {
  const plan: ReclaimPlan = { purge: [], remove: [], waiting: 0 };
  const live = new Set(input.live.map((claim) => `${claim.namespace}/${claim.name}`));
  for (const claim of input.deleted) {
    const finalizers = (claim.status as { finalizers?: unknown }).finalizers;
    if (!Array.isArray(finalizers) || finalizers.length === 0) continue;
    const nodes = ((claim.status as { nodes?: unknown }).nodes as unknown[] | undefined ?? []).filter(
      (node): node is string => typeof node === "string" && input.nodes.has(node),
    );
    if (reclaimPolicyOf(claim.annotations) === "Retain" || live.has(`${claim.namespace}/${claim.name}`) || nodes.length === 0) {
      plan.purge.push(claim);
      continue;
    }
    const mounted = input.pods.some((pod) => {
      const spec = pod.spec as PodSpec;
      return (
        pod.namespace === claim.namespace &&
        spec.nodeName !== undefined &&
        nodes.includes(spec.nodeName) &&
        (spec.volumes ?? []).some((volume) => volume.persistentVolumeClaim?.claimName === claim.name)
      );
    });
    if (mounted) {
      plan.waiting += 1; // the pod goes first (Kubernetes' pvc-protection)
      continue;
    }
    plan.remove.push({ claim, ref: { namespace: claim.namespace, name: claim.name }, nodes });
  }
  return plan;
}
