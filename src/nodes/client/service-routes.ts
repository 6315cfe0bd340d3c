import { endpointSliceSpecSchema, type ServiceSpec, type StoredObject } from "../../desired/index.ts";
import type { ServiceRoute } from "../protocol.ts";

/**
 * What every node's proxy is told (pure, tested from tables): each Service
 * with, per port, the endpoints a new connection may go to. The same set goes
 * to every node: a node's proxy reaches pods on any node.
 *
 * Only ready endpoints of the slice, and of those only pods that are still
 * live right now: a pod marked for deletion leaves the routes in the same
 * pass that stops it on its node (and the routes are sent first), before the
 * endpoints controller has rewritten the slice. With a preStop sleep, no new
 * connection reaches a pod that is stopping.
 */
export function planServiceRoutes(services: readonly StoredObject[], slices: readonly StoredObject[], pods: readonly StoredObject[]): ServiceRoute[] {
  const livePods = new Map(pods.filter((pod) => pod.deletedAt === null).map((pod) => [`${pod.namespace}/${pod.name}`, pod.uid]));
  const sliceByService = new Map<string, StoredObject>();
  for (const slice of slices) sliceByService.set(`${slice.namespace}/${slice.name}`, slice);

  return [...services]
    .sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`))
    .map((service) => {
      const spec = service.spec as ServiceSpec;
      const slice = sliceByService.get(`${service.namespace}/${service.name}`);
      const parsed = slice && slice.ownerUid === service.uid ? endpointSliceSpecSchema.safeParse(slice.spec) : undefined;
      const slicePorts = parsed?.success ? parsed.data.ports : [];
      return {
        namespace: service.namespace,
        name: service.name,
        headless: spec.clusterIP === "None",
        ports: (spec.ports ?? []).map((port) => {
          const listed = slicePorts.find((candidate) => candidate.port === port.port)?.endpoints ?? [];
          return {
            ...(port.name !== undefined ? { name: port.name } : {}),
            port: port.port,
            ...(port.nodePort !== undefined ? { nodePort: port.nodePort } : {}),
            endpoints: listed
              .filter((endpoint) => endpoint.conditions.ready && livePods.get(`${service.namespace}/${endpoint.pod}`) === endpoint.podUid)
              .map((endpoint) => ({ address: endpoint.address, port: endpoint.port, pod: `${service.namespace}/${endpoint.pod}` })),
          };
        }),
      };
    });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
