import { z } from "zod";
import { endpointSliceSpecSchema, type DesiredStore, type ServiceSpec } from "../desired/index.ts";

/**
 * One line per Service for GET /api/services: its ports and how many of its
 * pods are ready endpoints, read from the slices the endpoints controller
 * writes. A Service without a selector has no slice: 0 of 0.
 */
export const serviceSummarySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  type: z.enum(["ClusterIP", "NodePort"]),
  headless: z.boolean(),
  ports: z.array(z.object({ name: z.string().optional(), port: z.number().int(), nodePort: z.number().int().optional(), targetPort: z.union([z.number().int(), z.string()]) })),
  /** Selected pods with an address, and those of them ready (what the proxies route to). */
  endpoints: z.object({ ready: z.number().int(), total: z.number().int() }),
});
export type ServiceSummary = z.infer<typeof serviceSummarySchema>;

export const serviceListSchema = z.object({ items: z.array(serviceSummarySchema) });

export async function serviceSummaries(store: DesiredStore, namespace?: string): Promise<ServiceSummary[]> {
  const filter = namespace === undefined ? {} : { namespace };
  const [services, slices] = await Promise.all([
    store.listObjects({ kind: "Service", ...filter }),
    store.listObjects({ kind: "EndpointSlice", ...filter }),
  ]);
  const sliceOf = new Map(slices.map((slice) => [slice.ownerUid, slice]));
  return services.map((service) => {
    const spec = service.spec as ServiceSpec;
    const parsed = endpointSliceSpecSchema.safeParse(sliceOf.get(service.uid)?.spec);
    const endpoints = parsed.success ? parsed.data.endpoints : [];
    return {
      namespace: service.namespace,
      name: service.name,
      type: spec.type,
      headless: spec.clusterIP === "None",
      ports: spec.ports.map((port) => ({
        ...(port.name !== undefined ? { name: port.name } : {}),
        port: port.port,
        ...(port.nodePort !== undefined ? { nodePort: port.nodePort } : {}),
        targetPort: port.targetPort,
      })),
      endpoints: { ready: endpoints.filter((endpoint) => endpoint.conditions.ready).length, total: endpoints.length },
    };
  });
}
