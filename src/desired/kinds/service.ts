import { isIP } from "node:net";
import { z } from "zod";
import { CORE_V1, defineKind, labelsSchema } from "./meta.ts";
import { dns1035Label, dns1123Label, portNumberOrNameSchema, portNumberSchema } from "./names.ts";

/**
 * A Service: a stable port in front of the pods its selector picks. The
 * agent's proxy forwards TCP only, hence no UDP.
 */

const servicePortSchema = z
  .strictObject({
    name: dns1123Label().optional(),
    port: portNumberSchema,
    /** A container port number or name on the selected pods; defaults to `port`. */
    targetPort: portNumberOrNameSchema.optional(),
    nodePort: z
      .number()
      .int("must be an integer")
      .min(30000, "must be in the node port range 30000-32767")
      .max(32767, "must be in the node port range 30000-32767")
      .optional(),
    protocol: z.literal("TCP", { error: 'capstan proxies TCP only: protocol must be "TCP"' }).default("TCP"),
  })
  .transform((port) => ({ ...port, targetPort: port.targetPort ?? port.port }));

const clusterIPSchema = z
  .string()
  .refine((value) => value === "None" || isIP(value) !== 0, 'must be an IP address, or "None" for a headless Service');

export const serviceSpecSchema = z
  .strictObject({
    type: z.enum(["ClusterIP", "NodePort"]).default("ClusterIP"),
    clusterIP: clusterIPSchema.optional(),
    selector: labelsSchema.optional(),
    ports: z.array(servicePortSchema).default([]),
    sessionAffinity: z.enum(["None", "ClientIP"]).default("None"),
  })
  .superRefine((spec, ctx) => {
    const headless = spec.clusterIP === "None";
    if (headless && spec.type !== "ClusterIP") {
      ctx.addIssue({ code: "custom", path: ["clusterIP"], message: 'may be "None" (headless) only when type is ClusterIP' });
    }
    if (spec.ports.length === 0 && !headless) {
      ctx.addIssue({ code: "custom", path: ["ports"], message: "must have at least one port unless the Service is headless" });
    }
    const names = new Set<string>();
    const numbers = new Set<number>();
    const nodePorts = new Set<number>();
    spec.ports.forEach((port, index) => {
      // With several ports, clients and endpoints tell them apart by name.
      if (spec.ports.length > 1 && port.name === undefined) {
        ctx.addIssue({ code: "custom", path: ["ports", index, "name"], message: "is required when a Service has more than one port" });
      }
      if (port.name !== undefined) {
        if (names.has(port.name)) ctx.addIssue({ code: "custom", path: ["ports", index, "name"], message: `duplicate port name ${JSON.stringify(port.name)}` });
        names.add(port.name);
      }
      if (numbers.has(port.port)) ctx.addIssue({ code: "custom", path: ["ports", index, "port"], message: `duplicate port ${port.port}` });
      numbers.add(port.port);
      if (port.nodePort !== undefined) {
        if (spec.type !== "NodePort") {
          ctx.addIssue({ code: "custom", path: ["ports", index, "nodePort"], message: "may only be set when type is NodePort" });
        } else if (nodePorts.has(port.nodePort)) {
          ctx.addIssue({ code: "custom", path: ["ports", index, "nodePort"], message: `duplicate nodePort ${port.nodePort}` });
        }
        nodePorts.add(port.nodePort);
      }
    });
  });
export type ServiceSpec = z.infer<typeof serviceSpecSchema>;

export const serviceKind = defineKind({
  kind: "Service",
  apiVersions: CORE_V1,
  namespaced: true,
  // Service names become DNS names and environment variable prefixes, so they must start with a letter.
  name: dns1035Label(),
  fields: { spec: serviceSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type Service = z.infer<typeof serviceKind.schema>;
