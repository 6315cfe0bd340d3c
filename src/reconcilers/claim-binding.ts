import { isRelocatable, type DesiredStore, type PodSpec, type StatusUpdate, type StoredObject } from "../desired/index.ts";

/**
 * Binding of PersistentVolumeClaims to nodes, local-path style (Kubernetes'
 * WaitForFirstConsumer): a claim is bound to the node where the first pod
 * using it is scheduled, because its directory is made on that node's disk;
 * from then on its pods fit only that node (the scheduler's volumeBinding
 * filter), unless the claim is relocatable. The binding is recorded in the
 * claim's status, with every node that holds a directory for it, and a
 * finalizer so that the node link removes those directories (reclaim policy
 * Delete) before the deleted claim is purged.
 */

export const claimFinalizer = "capstan.dev/claim-directory";

export interface ClaimStatus {
  phase: "Pending" | "Bound";
  /** The node its pods must run on (the last one used, for a relocatable claim). */
  nodeName?: string;
  /** Every node with a directory for the claim: where a Delete reclaim has to remove it. */
  nodes?: string[];
  finalizers?: string[];
}

export function claimStatus(claim: StoredObject): ClaimStatus {
  const status = claim.status as Partial<ClaimStatus>;
  return {
    phase: status.phase === "Bound" ? "Bound" : "Pending",
    ...(typeof status.nodeName === "string" ? { nodeName: status.nodeName } : {}),
    nodes: Array.isArray(status.nodes) ? status.nodes.filter((node): node is string => typeof node === "string") : [],
  };
}

export function claimNamesOf(spec: PodSpec): string[] {
  return [...new Set((spec.volumes ?? []).flatMap((volume) => (volume.persistentVolumeClaim ? [volume.persistentVolumeClaim.claimName] : [])))];
}

export interface PodClaims {
  /** Claims the pod names that do not exist: it waits, Pending. */
  missing: string[];
  /** Claims bound to a node and not relocatable: the pod must go there. */
  bound: { claim: string; node: string }[];
  found: StoredObject[];
}

export function podClaims(spec: PodSpec, claims: ReadonlyMap<string, StoredObject>): PodClaims {
  const result: PodClaims = { missing: [], bound: [], found: [] };
  for (const name of claimNamesOf(spec)) {
    const claim = claims.get(name);
    if (!claim) {
      result.missing.push(name);
      continue;
    }
    result.found.push(claim);
    const status = claimStatus(claim);
    if (status.phase === "Bound" && status.nodeName && !isRelocatable(claim.annotations)) result.bound.push({ claim: name, node: status.nodeName });
  }
  return result;
}

export async function readPodClaims(store: DesiredStore, pod: StoredObject): Promise<PodClaims> {
  const names = claimNamesOf(pod.spec as PodSpec);
  const claims = await Promise.all(names.map((name) => store.getObject({ kind: "PersistentVolumeClaim", namespace: pod.namespace, name })));
  return podClaims(pod.spec as PodSpec, new Map(claims.flatMap((claim) => (claim ? [[claim.name, claim] as const] : []))));
}

/** The status writes that bind the pod's claims to `node` (none for a claim already bound there). */
export function claimBindings(claims: readonly StoredObject[], node: string): StatusUpdate[] {
  const updates: StatusUpdate[] = [];
  for (const claim of claims) {
    const status = claimStatus(claim);
    const nodes = status.nodes!.includes(node) ? status.nodes! : [...status.nodes!, node];
    if (status.phase === "Bound" && status.nodeName === node && nodes === status.nodes) continue;
    // A claim bound elsewhere moves only when relocatable; the scheduler has already kept the pod off other nodes.
    if (status.phase === "Bound" && status.nodeName !== node && !isRelocatable(claim.annotations)) continue;
    updates.push({
      key: { kind: "PersistentVolumeClaim", namespace: claim.namespace, name: claim.name },
      uid: claim.uid,
      status: { phase: "Bound", nodeName: node, nodes, finalizers: [claimFinalizer] } satisfies ClaimStatus,
    });
  }
  return updates;
}

export function missingClaimsMessage(missing: readonly string[]): string {
  return `${missing.map((name) => `persistentvolumeclaim "${name}" not found`).join(", ")}: the pod waits until it exists`;
}
