import type { StoredObject } from "../desired/index.ts";
import type { ReconcileContext } from "./types.ts";

/**
 * The two writes every pod-making controller (ReplicaSet, DaemonSet,
 * StatefulSet, Job) performs, with the events Kubernetes' controllers record
 * for them: a pod created Pending and owned by its controller (so the
 * garbage collector removes it with its owner), and an owned pod deleted.
 */

export interface OwnedPod {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: unknown;
  /** Status fields the pod starts with besides `phase: Pending` (a StatefulSet's termination finalizer). */
  status?: Record<string, unknown>;
}

function aboutOwner(owner: StoredObject) {
  return { kind: owner.kind, namespace: owner.namespace, name: owner.name, uid: owner.uid };
}

export async function createOwnedPod(ctx: ReconcileContext, owner: StoredObject, pod: OwnedPod, message = `Created pod: ${pod.name}`): Promise<void> {
  await ctx.store.createObject({
    apiVersion: "v1",
    kind: "Pod",
    namespace: owner.namespace,
    name: pod.name,
    labels: pod.labels,
    annotations: pod.annotations,
    spec: pod.spec as Record<string, unknown>,
    status: { phase: "Pending", ...pod.status },
    ownerUid: owner.uid,
  });
  await ctx.event(aboutOwner(owner), { type: "Normal", reason: "SuccessfulCreate", message });
}

export async function deleteOwnedPod(
  ctx: ReconcileContext,
  owner: StoredObject,
  pod: { name: string; uid: string },
  event: { type?: "Normal" | "Warning"; reason?: string; message?: string } = {},
): Promise<void> {
  await ctx.store.deleteObject({ kind: "Pod", namespace: owner.namespace, name: pod.name }, { uid: pod.uid });
  await ctx.event(aboutOwner(owner), {
    type: event.type ?? "Normal",
    reason: event.reason ?? "SuccessfulDelete",
    message: event.message ?? `Deleted pod: ${pod.name}`,
  });
}
