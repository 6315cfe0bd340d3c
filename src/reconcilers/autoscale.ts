import type { DesiredStore, HorizontalPodAutoscalerSpec, ObjectKey, StoredObject } from "../desired/index.ts";
import type { ObjectChange, ReconcileContext } from "./types.ts";

/**
 * What a workload controller (Deployment, StatefulSet) asks about
 * autoscaling: while a HorizontalPodAutoscaler targets the workload, Git's
 * `replicas` is ignored and the autoscaler's `status.desiredReplicas` is run
 * instead. In Kubernetes the autoscaler writes the workload's spec; capstan's
 * spec belongs to Git, so the workload's controller reads the decision here.
 */

export const autoscalerKind = "HorizontalPodAutoscaler";

type WorkloadKey = Pick<ObjectKey, "kind" | "namespace" | "name">;

function targets(autoscaler: StoredObject, workload: WorkloadKey): boolean {
  const ref = (autoscaler.spec as HorizontalPodAutoscalerSpec).scaleTargetRef;
  return autoscaler.deletedAt === null && autoscaler.namespace === workload.namespace && ref.kind === workload.kind && ref.name === workload.name;
}

/** The live autoscalers of `workload`, by name: the first is the one that counts when several compete. */
export function autoscalersAmong(autoscalers: readonly StoredObject[], workload: WorkloadKey): StoredObject[] {
  return autoscalers.filter((autoscaler) => targets(autoscaler, workload)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function autoscalersOf(store: DesiredStore, workload: WorkloadKey): Promise<StoredObject[]> {
  return autoscalersAmong(await store.listObjects({ kind: autoscalerKind, namespace: workload.namespace }), workload);
}

/**
 * The replica count decided for `workload` by the autoscaler that targets it,
 * or null when none does or it has not decided yet (Git's replicas apply:
 * they are what the autoscaler starts from).
 */
export function decidedReplicas(autoscaler: StoredObject | undefined, workload: WorkloadKey): number | null {
  if (!autoscaler) return null;
  const status = autoscaler.status as { scaleTarget?: unknown; desiredReplicas?: unknown };
  // A decision recorded for a previous target of a since-edited autoscaler is not this workload's.
  if (status.scaleTarget !== `${workload.kind}/${workload.name}`) return null;
  return typeof status.desiredReplicas === "number" && Number.isInteger(status.desiredReplicas) && status.desiredReplicas >= 0 ? status.desiredReplicas : null;
}

export async function autoscaledReplicas(store: DesiredStore, workload: WorkloadKey): Promise<number | null> {
  return decidedReplicas((await autoscalersOf(store, workload))[0], workload);
}

/**
 * keysFor of a workload controller: an autoscaler's status write (its
 * decision) enqueues the workload it targets. Any other change may have
 * released a former target, which then goes back to Git's count: a spec
 * change (a new scaleTargetRef) or a deletion whose row is already gone, so
 * for those every workload of the kind in its namespace is looked at again.
 */
export async function autoscalerTargetKeys(change: ObjectChange, ctx: ReconcileContext, kind: string): Promise<ObjectKey[]> {
  if (change.kind !== autoscalerKind) return [];
  const autoscaler = await ctx.store.getObject({ kind: autoscalerKind, namespace: change.namespace, name: change.name });
  if (!change.statusOnly || !autoscaler || autoscaler.uid !== change.uid) {
    const workloads = await ctx.store.listObjects({ kind, namespace: change.namespace });
    return workloads.map((workload) => ({ kind, namespace: workload.namespace, name: workload.name }));
  }
  const ref = (autoscaler.spec as HorizontalPodAutoscalerSpec).scaleTargetRef;
  return ref.kind === kind ? [{ kind, namespace: autoscaler.namespace, name: ref.name }] : [];
}
