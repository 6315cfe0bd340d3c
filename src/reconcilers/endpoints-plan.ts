import { z } from "zod";
import {
  canonicalJson,
  endpointSliceSpecSchema,
  type EndpointAddress,
  type EndpointSliceSpec,
  type PodSpec,
  type ServiceSpec,
  type StoredObject,
} from "../desired/index.ts";
import { podFacts } from "./replicaset-plan.ts";

/**
 * The endpoints controller's decisions, pure (house style 3): given a Service,
 * the pods of its namespace and its current EndpointSlice, what the slice
 * should say. Kubernetes' pkg/controller/endpointslice (reconciler.go,
 * utils.go podToEndpoint, FindPort) with one difference: pods run on the host
 * network with a host port per container port, so each endpoint's port is the
 * pod's own host port, read from its container statuses.
 */

/** The part of a stored pod status this reads, leniently: a pod nobody has reported on yet has none of it. */
const podNetworkSchema = z.object({
  hostIP: z.string().nullish().catch(null),
  containerStatuses: z.array(z.object({ name: z.string(), ports: z.record(z.string(), z.number()).catch({}) })).catch([]),
});

/** A selector-less or empty-selector Service selects nothing here: its endpoints are not ours to manage (as in Kubernetes). */
export function serviceSelector(service: StoredObject): Record<string, string> | undefined {
  const selector = (service.spec as Partial<ServiceSpec>).selector;
  return selector && Object.keys(selector).length > 0 ? selector : undefined;
}

export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * The host port the pod listens on for a Service's targetPort, or undefined
 * when it has none. As Kubernetes' FindPort: a name must match a named
 * container port; a number matches a declared containerPort. A declared port
 * maps to its host port through the container's status (`ports` keyed by
 * name, or by number when unnamed); a number no container declares is taken
 * as the host port itself, since the process shares the host's network.
 */
export function resolveTargetPort(pod: StoredObject, targetPort: number | string): number | undefined {
  const spec = pod.spec as Partial<PodSpec>;
  const statuses = podNetworkSchema.parse(pod.status).containerStatuses;
  for (const container of spec.containers ?? []) {
    for (const port of container.ports ?? []) {
      const matches = typeof targetPort === "string" ? port.name === targetPort : port.containerPort === targetPort;
      if (!matches) continue;
      const key = port.name ?? String(port.containerPort);
      const hostPort = statuses.find((status) => status.name === container.name)?.ports[key];
      return hostPort ?? port.hostPort;
    }
  }
  return typeof targetPort === "number" ? targetPort : undefined;
}

/** The per-pod endpoint (no port), or undefined for a pod with nothing to route to: finished, unbound, or without an address yet. */
export function podEndpoint(service: StoredObject, pod: StoredObject): EndpointAddress | undefined {
  const facts = podFacts(pod);
  if (facts.phase === "Succeeded" || facts.phase === "Failed" || facts.nodeName === null) return undefined;
  const address = podNetworkSchema.parse(pod.status).hostIP;
  if (!address) return undefined;
  // Kubernetes: a terminating pod is not ready, but may still be serving (draining).
  const serving = facts.ready;
  const spec = pod.spec as { hostname?: unknown; subdomain?: unknown };
  const hostname = spec.subdomain === service.name ? `${typeof spec.hostname === "string" ? spec.hostname : pod.name}.${service.name}` : undefined;
  return {
    pod: pod.name,
    podUid: pod.uid,
    nodeName: facts.nodeName,
    address,
    ...(hostname ? { hostname } : {}),
    conditions: { ready: serving && !facts.terminating, serving, terminating: facts.terminating },
  };
}

/** The slice a Service with a selector should have, from the pods of its namespace. */
export function endpointSliceSpec(service: StoredObject, pods: readonly StoredObject[]): EndpointSliceSpec {
  const spec = service.spec as ServiceSpec;
  const selector = serviceSelector(service) ?? {};
  const selected = pods
    .filter((pod) => pod.namespace === service.namespace && selects(selector, pod.labels))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const endpoints: { pod: StoredObject; endpoint: EndpointAddress }[] = [];
  for (const pod of selected) {
    const endpoint = podEndpoint(service, pod);
    if (endpoint) endpoints.push({ pod, endpoint });
  }
  return {
    serviceName: service.name,
    headless: spec.clusterIP === "None",
    endpoints: endpoints.map(({ endpoint }) => endpoint),
    ports: (spec.ports ?? []).map((port) => ({
      ...(port.name !== undefined ? { name: port.name } : {}),
      port: port.port,
      ...(port.nodePort !== undefined ? { nodePort: port.nodePort } : {}),
      targetPort: port.targetPort,
      endpoints: endpoints.flatMap(({ pod, endpoint }) => {
        const hostPort = resolveTargetPort(pod, port.targetPort);
        return hostPort === undefined ? [] : [{ ...endpoint, port: hostPort }];
      }),
    })),
  };
}

export type EndpointsAction =
  | { type: "createSlice"; spec: EndpointSliceSpec }
  | { type: "updateSlice"; spec: EndpointSliceSpec; resourceVersion: number }
  | { type: "deleteSlice"; uid: string; reason: "NoSelector" | "NotOwned" };

export interface EndpointsPlanInput {
  service: StoredObject;
  /** Live pods of the Service's namespace (a superset of those it selects is fine). */
  pods: readonly StoredObject[];
  /** The EndpointSlice named after the Service, if any. */
  slice: StoredObject | null;
}

/** At most one action: the slice made, rewritten, or removed; nothing when it already says the right thing. */
export function planEndpoints(input: EndpointsPlanInput): EndpointsAction[] {
  const { service, pods, slice } = input;
  // A slice of an earlier Service by the same name (or anyone else's) is not this Service's to keep.
  if (slice && slice.ownerUid !== service.uid) return [{ type: "deleteSlice", uid: slice.uid, reason: "NotOwned" }];
  if (!serviceSelector(service)) return slice ? [{ type: "deleteSlice", uid: slice.uid, reason: "NoSelector" }] : [];
  const spec = endpointSliceSpec(service, pods);
  if (!slice) return [{ type: "createSlice", spec }];
  const current = endpointSliceSpecSchema.safeParse(slice.spec);
  if (current.success && canonicalJson(current.data) === canonicalJson(spec)) return [];
  return [{ type: "updateSlice", spec, resourceVersion: slice.resourceVersion }];
}

/** The pod names a slice lists, to find the Services a pod used to belong to (it may be gone, or relabelled). */
export function slicePodNames(slice: StoredObject): string[] {
  const parsed = endpointSliceSpecSchema.safeParse(slice.spec);
  return parsed.success ? parsed.data.endpoints.map((endpoint) => endpoint.pod) : [];
}
