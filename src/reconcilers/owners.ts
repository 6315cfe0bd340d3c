import type { DesiredStore, ObjectKey } from "../desired/index.ts";
import type { ObjectChange, ReconcileContext } from "./types.ts";

/**
 * Walks owner references up from a changed object to the ancestor of `kind`
 * (a Pod → its ReplicaSet → its Deployment), as controller-runtime's
 * EnqueueRequestForOwner does. At most `maxHops` lookups.
 */
export async function ownerKeys(store: DesiredStore, change: ObjectChange, kind: string, maxHops = 2): Promise<ObjectKey[]> {
  let ownerUid = change.ownerUid ?? null;
  for (let hop = 0; hop < maxHops && ownerUid; hop += 1) {
    const owner = await store.getObjectByUid(ownerUid);
    if (!owner) return [];
    if (owner.kind === kind) return [{ kind, namespace: owner.namespace, name: owner.name }];
    ownerUid = owner.ownerUid;
  }
  return [];
}

/** The default routing plus owner walking: own-kind spec changes map to themselves, descendants' changes (status too) to their ancestor of `kind`. */
export async function ownKeyOrOwner(change: ObjectChange, ctx: ReconcileContext, kind: string, descendantKinds: readonly string[]): Promise<ObjectKey[]> {
  // Its own status is written by the reconciler itself: nothing to react to.
  if (change.kind === kind) return change.statusOnly ? [] : [{ kind, namespace: change.namespace, name: change.name }];
  if (!descendantKinds.includes(change.kind)) return [];
  return ownerKeys(ctx.store, change, kind, descendantKinds.length);
}
