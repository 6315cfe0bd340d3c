import { z } from "zod";

/**
 * An EndpointSlice: where a Service's pods can be reached, made by the
 * endpoints controller (one per Service with a selector, named after it,
 * owned by it) and read by the node links, which turn it into each node's
 * proxy routes.
 *
 * Unlike Kubernetes' (one port list shared by every endpoint), a pod here
 * listens on a host port of its own for each container port, so the
 * endpoints are listed per service port, each with its own host port.
 *
 * It is never accepted from Git: a hand-written slice would fight the
 * controller's, and a Service without a selector (Kubernetes' use for manual
 * slices) has nothing here to route to yet.
 */

export const ENDPOINT_SLICE_API_VERSION = "discovery.k8s.io/v1";
export const serviceNameLabel = "kubernetes.io/service-name";

export const endpointConditionsSchema = z.strictObject({
  /** Serving and not terminating: the only endpoints proxies send new connections to. */
  ready: z.boolean(),
  /** Passes its readiness check, terminating or not. */
  serving: z.boolean(),
  /** Marked for deletion (deletedAt set). */
  terminating: z.boolean(),
});
export type EndpointConditions = z.infer<typeof endpointConditionsSchema>;

/** One selected pod, whatever the port: the per-pod address a headless Service publishes. */
export const endpointAddressSchema = z.strictObject({
  pod: z.string(),
  podUid: z.string(),
  nodeName: z.string(),
  /** The pod's hostIP: host network, so its node's address. */
  address: z.string(),
  /** `<pod hostname>.<service>` when the pod's spec.subdomain names the Service. */
  hostname: z.string().optional(),
  conditions: endpointConditionsSchema,
});
export type EndpointAddress = z.infer<typeof endpointAddressSchema>;

/** One pod behind one service port: its address and its host port for the port's targetPort. */
export const portEndpointSchema = endpointAddressSchema.extend({ port: z.number().int().min(1).max(65535) });
export type PortEndpoint = z.infer<typeof portEndpointSchema>;

export const endpointSlicePortSchema = z.strictObject({
  name: z.string().optional(),
  port: z.number().int(),
  nodePort: z.number().int().optional(),
  /** The Service's targetPort as written: a container port number or name. */
  targetPort: z.union([z.number().int(), z.string()]),
  endpoints: z.array(portEndpointSchema),
});
export type EndpointSlicePort = z.infer<typeof endpointSlicePortSchema>;

/** What is stored in the slice's `spec`. */
export const endpointSliceSpecSchema = z.strictObject({
  serviceName: z.string(),
  headless: z.boolean(),
  /** Every selected pod with an address, in pod-name order. */
  endpoints: z.array(endpointAddressSchema),
  ports: z.array(endpointSlicePortSchema),
});
export type EndpointSliceSpec = z.infer<typeof endpointSliceSpecSchema>;

/** Why a manifest of this kind is refused from Git (validate.ts names it instead of "unknown kind"). */
export const endpointSliceFromGitMessage =
  "EndpointSlice is made by capstan from each Service's selector and cannot be written in Git: declare a Service instead";
