import { ENDPOINT_SLICE_API_VERSION, serviceNameLabel, type ObjectKey } from "../desired/index.ts";
import { planEndpoints, selects, serviceSelector, slicePodNames } from "./endpoints-plan.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/** Service → EndpointSlice: the slice named after the Service lists its selected pods and their host ports. */
export const endpointsReconciler: Reconciler = {
  kind: "Service",
  name: "endpoints-controller",

  async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
    const { store } = ctx;
    const service = await store.getObject(key);
    // A Service that is gone takes its slice with it through the garbage collector (ownerUid).
    if (!service) return {};
    const sliceKey = { kind: "EndpointSlice", namespace: key.namespace, name: key.name };
    const [pods, slice] = await Promise.all([
      serviceSelector(service) ? store.listObjects({ kind: "Pod", namespace: key.namespace }) : Promise.resolve([]),
      store.getObject(sliceKey),
    ]);
    for (const action of planEndpoints({ service, pods, slice })) {
      switch (action.type) {
        case "createSlice":
          await store.createObject({
            apiVersion: ENDPOINT_SLICE_API_VERSION,
            kind: "EndpointSlice",
            namespace: key.namespace,
            name: key.name,
            labels: { [serviceNameLabel]: key.name },
            spec: action.spec,
            ownerUid: service.uid,
          });
          break;
        case "updateSlice":
          // A conflict (another writer got there first) is transient: the runtime retries with the newer slice.
          await store.updateObject(sliceKey, action.resourceVersion, { spec: action.spec });
          break;
        case "deleteSlice":
          await store.deleteObject(sliceKey, { uid: action.uid });
          // Made afresh on the next pass when the Service still wants one.
          return action.reason === "NotOwned" ? { requeueAfterMs: 0 } : {};
      }
    }
    return {};
  },

  keysFor: (change: ObjectChange, ctx: ReconcileContext) => servicesFor(change, ctx),
};

/**
 * Which Services a change concerns. A Service's own spec change; a slice that
 * vanished (made again); and any Pod change, status-only ones included (that
 * is how readiness arrives): the Services of its namespace that select it
 * now, plus those whose slice lists it (it may be gone, or relabelled away).
 */
async function servicesFor(change: ObjectChange, ctx: ReconcileContext): Promise<ObjectKey[]> {
  const key = (name: string): ObjectKey => ({ kind: "Service", namespace: change.namespace, name });
  if (change.kind === "Service") return change.statusOnly ? [] : [key(change.name)];
  if (change.kind === "EndpointSlice") return change.deleted ? [key(change.name)] : [];
  if (change.kind !== "Pod") return [];
  const { store } = ctx;
  const [pod, services, slices] = await Promise.all([
    change.deleted ? Promise.resolve(null) : store.getObjectByUid(change.uid),
    store.listObjects({ kind: "Service", namespace: change.namespace }),
    store.listObjects({ kind: "EndpointSlice", namespace: change.namespace }),
  ]);
  const names = new Set<string>();
  for (const service of services) {
    const selector = serviceSelector(service);
    if (selector && pod && selects(selector, pod.labels)) names.add(service.name);
  }
  for (const slice of slices) if (slicePodNames(slice).includes(change.name)) names.add(slice.name);
  return [...names].sort().map(key);
}
