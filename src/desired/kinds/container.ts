import { z } from "zod";
import { parseQuantity, quantitySchema } from "../quantity.ts";
import {
  absolutePathSchema,
  configKeySchema,
  dns1123Label,
  dns1123Subdomain,
  envVarNameSchema,
  portNameSchema,
  portNumberSchema,
  relativePathSchema,
  stringValueSchema,
} from "./names.ts";
import { checkExactlyOne } from "./one-of.ts";
import { lifecycleSchema, probeSchema } from "./probe.ts";

/**
 * A container. In capstan it is a host process (`command`, `args`, `env`,
 * `workingDir`...); `image` selects the docker/podman runtime where the node
 * has one.
 */

const keyRefSchema = z.strictObject({
  name: dns1123Subdomain(),
  key: configKeySchema,
  optional: z.boolean().optional(),
});

// The downward API fields capstan can fill in for a host process.
const fieldPathPattern =
  /^(metadata\.(name|namespace|uid)|metadata\.(labels|annotations)\['[^']+'\]|spec\.nodeName|status\.(hostIP|podIP))$/;

export const fieldRefSchema = z.strictObject({
  fieldPath: z
    .string()
    .regex(
      fieldPathPattern,
      "supported fieldPaths are metadata.name, metadata.namespace, metadata.uid, metadata.labels['<key>'], metadata.annotations['<key>'], spec.nodeName, status.hostIP, status.podIP",
    ),
});

const envVarSourceSchema = z
  .strictObject({
    configMapKeyRef: keyRefSchema.optional(),
    secretKeyRef: keyRefSchema.optional(),
    fieldRef: fieldRefSchema.optional(),
  })
  .superRefine((source, ctx) =>
    checkExactlyOne(source, ["configMapKeyRef", "secretKeyRef", "fieldRef"], "value source", ctx),
  );

const envVarSchema = z
  .strictObject({
    name: envVarNameSchema,
    value: stringValueSchema.optional(),
    valueFrom: envVarSourceSchema.optional(),
  })
  .superRefine((envVar, ctx) => {
    if (envVar.value && envVar.valueFrom) {
      ctx.addIssue({ code: "custom", path: ["valueFrom"], message: "may not be specified when `value` is not empty" });
    }
  });

const sourceRefSchema = z.strictObject({
  name: dns1123Subdomain(),
  optional: z.boolean().optional(),
});

const envFromSourceSchema = z
  .strictObject({
    configMapRef: sourceRefSchema.optional(),
    secretRef: sourceRefSchema.optional(),
    prefix: envVarNameSchema.optional(),
  })
  .superRefine((source, ctx) => checkExactlyOne(source, ["configMapRef", "secretRef"], "source", ctx));

const containerPortSchema = z.strictObject({
  name: portNameSchema.optional(),
  containerPort: portNumberSchema,
  hostPort: portNumberSchema.optional(),
  protocol: z.enum(["TCP", "UDP"]).default("TCP"),
});

const resourceListSchema = z.strictObject({
  cpu: quantitySchema.optional(),
  memory: quantitySchema.optional(),
});

export const resourceRequirementsSchema = z
  .strictObject({
    requests: resourceListSchema.optional(),
    limits: resourceListSchema.optional(),
  })
  .superRefine((resources, ctx) => {
    for (const resource of ["cpu", "memory"] as const) {
      const request = resources.requests?.[resource];
      const limit = resources.limits?.[resource];
      if (request !== undefined && limit !== undefined && parseQuantity(request)! > parseQuantity(limit)!) {
        ctx.addIssue({
          code: "custom",
          path: ["requests", resource],
          message: `must be less than or equal to ${resource} limit of ${limit}`,
        });
      }
    }
  })
  // Kubernetes defaults a missing request to the limit, so the scheduler reserves what the process may use.
  .transform((resources) =>
    resources.limits ? { ...resources, requests: { ...resources.limits, ...resources.requests } } : resources,
  );

const volumeMountSchema = z.strictObject({
  name: dns1123Label(),
  mountPath: absolutePathSchema,
  readOnly: z.boolean().optional(),
  subPath: relativePathSchema.optional(),
});

export const containerSchema = z
  .strictObject({
    name: dns1123Label(),
    image: z.string().min(1).optional(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    env: z.array(envVarSchema).optional(),
    envFrom: z.array(envFromSourceSchema).optional(),
    workingDir: z.string().min(1).optional(),
    ports: z.array(containerPortSchema).optional(),
    resources: resourceRequirementsSchema.optional(),
    livenessProbe: probeSchema.optional(),
    readinessProbe: probeSchema.optional(),
    startupProbe: probeSchema.optional(),
    lifecycle: lifecycleSchema.optional(),
    volumeMounts: z.array(volumeMountSchema).optional(),
    /** Only "Always", and only on init containers: it makes them sidecars. Checked by the pod spec. */
    restartPolicy: z.literal("Always").optional(),
  })
  .superRefine((container, ctx) => {
    const portNames = new Set<string>();
    container.ports?.forEach((port, index) => {
      if (port.name === undefined) return;
      if (portNames.has(port.name)) {
        ctx.addIssue({ code: "custom", path: ["ports", index, "name"], message: `duplicate port name ${JSON.stringify(port.name)}` });
      }
      portNames.add(port.name);
    });

    for (const { path, name } of namedPortReferences(container)) {
      if (!portNames.has(name)) {
        ctx.addIssue({
          code: "custom",
          path,
          message: `port name ${JSON.stringify(name)} does not match any named port of container ${JSON.stringify(container.name)}`,
        });
      }
    }

    for (const probe of ["livenessProbe", "startupProbe"] as const) {
      if ((container[probe]?.successThreshold ?? 1) !== 1) {
        ctx.addIssue({ code: "custom", path: [probe, "successThreshold"], message: "must be 1" });
      }
    }

    const mountPaths = new Set<string>();
    container.volumeMounts?.forEach((mount, index) => {
      if (mountPaths.has(mount.mountPath)) {
        ctx.addIssue({ code: "custom", path: ["volumeMounts", index, "mountPath"], message: "must be unique" });
      }
      mountPaths.add(mount.mountPath);
    });
  });
export type Container = z.infer<typeof containerSchema>;

type PortHolder = { httpGet?: { port: number | string }; tcpSocket?: { port: number | string } } | undefined;

/** Every port named (rather than numbered) by a probe or lifecycle hook, with the path of its `port` field. */
function namedPortReferences(container: {
  livenessProbe?: PortHolder;
  readinessProbe?: PortHolder;
  startupProbe?: PortHolder;
  lifecycle?: { postStart?: PortHolder; preStop?: PortHolder };
}): { path: (string | number)[]; name: string }[] {
  const holders: [(string | number)[], PortHolder][] = [
    [["livenessProbe"], container.livenessProbe],
    [["readinessProbe"], container.readinessProbe],
    [["startupProbe"], container.startupProbe],
    [["lifecycle", "postStart"], container.lifecycle?.postStart],
    [["lifecycle", "preStop"], container.lifecycle?.preStop],
  ];
  const references: { path: (string | number)[]; name: string }[] = [];
  for (const [path, holder] of holders) {
    for (const action of ["httpGet", "tcpSocket"] as const) {
      const port = holder?.[action]?.port;
      if (typeof port === "string") references.push({ path: [...path, action, "port"], name: port });
    }
  }
  return references;
}
