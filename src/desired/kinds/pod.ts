import { z } from "zod";
import { affinitySchema, tolerationSchema } from "./affinity.ts";
import { containerSchema } from "./container.ts";
import { labelsSchema, templateMetaSchema, unsupported } from "./meta.ts";
import { dns1123Label, dns1123Subdomain, ipAddressSchema, nonNegativeInt, positiveInt } from "./names.ts";
import { volumeSchema } from "./volume.ts";

/** PodSpec and PodTemplateSpec: what every workload kind runs. */

const hostAliasSchema = z.strictObject({
  ip: ipAddressSchema,
  hostnames: z.array(dns1123Subdomain()).min(1, "must have at least one hostname"),
});

export const restartPolicySchema = z.enum(["Always", "OnFailure", "Never"]);
export type RestartPolicy = z.infer<typeof restartPolicySchema>;

/**
 * The fields of a PodSpec without the cross-field checks, for StatefulSet,
 * whose volumeClaimTemplates declare volumes outside the pod spec.
 */
export const podSpecFieldsSchema = z.strictObject({
  containers: z.array(containerSchema).min(1, "must have at least one container"),
  initContainers: z.array(containerSchema).optional(),
  volumes: z.array(volumeSchema).optional(),
  restartPolicy: restartPolicySchema.default("Always"),
  nodeSelector: labelsSchema.optional(),
  nodeName: dns1123Subdomain().optional(),
  affinity: affinitySchema.optional(),
  tolerations: z.array(tolerationSchema).optional(),
  terminationGracePeriodSeconds: nonNegativeInt.default(30),
  activeDeadlineSeconds: positiveInt.optional(),
  hostAliases: z.array(hostAliasSchema).optional(),
  /** The pod's host name (a StatefulSet sets it to the pod's name): with `subdomain`, `<hostname>.<subdomain>` is its stable address. */
  hostname: dns1123Label().optional(),
  /** The headless Service under which `<hostname>.<subdomain>` is published (a StatefulSet's serviceName). */
  subdomain: dns1123Label().optional(),
  serviceAccountName: unsupported("capstan has no service accounts: remove serviceAccountName"),
});

type PodSpecFields = z.infer<typeof podSpecFieldsSchema>;
type Path = (string | number)[];

export interface PodSpecCheckOptions {
  /** Where the pod spec sits relative to the schema doing the check. */
  at?: Path;
  /** Volume names declared outside the pod spec (a StatefulSet's claim templates). */
  extraVolumeNames?: ReadonlySet<string>;
}

/** The rules that span containers and volumes, with the exact path of the offending field. */
export function checkPodSpec(spec: PodSpecFields, ctx: z.RefinementCtx, options: PodSpecCheckOptions = {}): void {
  const at = options.at ?? [];
  const issue = (path: Path, message: string) => ctx.addIssue({ code: "custom", path: [...at, ...path], message });

  const volumeNames = new Set<string>();
  spec.volumes?.forEach((volume, index) => {
    if (volumeNames.has(volume.name)) issue(["volumes", index, "name"], `duplicate volume name ${JSON.stringify(volume.name)}`);
    volumeNames.add(volume.name);
  });

  const containerNames = new Set<string>();
  const hostPorts = new Set<string>();
  const groups = [
    ["initContainers", spec.initContainers ?? []],
    ["containers", spec.containers],
  ] as const;
  for (const [group, containers] of groups) {
    containers.forEach((container, index) => {
      if (containerNames.has(container.name)) {
        issue([group, index, "name"], `duplicate container name ${JSON.stringify(container.name)}`);
      }
      containerNames.add(container.name);

      container.volumeMounts?.forEach((mount, mountIndex) => {
        if (!volumeNames.has(mount.name) && !options.extraVolumeNames?.has(mount.name)) {
          issue([group, index, "volumeMounts", mountIndex, "name"], `volume ${JSON.stringify(mount.name)} is not declared in volumes`);
        }
      });

      container.ports?.forEach((port, portIndex) => {
        if (port.hostPort === undefined) return;
        const key = `${port.hostPort}/${port.protocol}`;
        if (hostPorts.has(key)) issue([group, index, "ports", portIndex, "hostPort"], `duplicate hostPort ${key}`);
        hostPorts.add(key);
      });

      if (group === "containers" && container.restartPolicy !== undefined) {
        issue([group, index, "restartPolicy"], "may only be set on init containers, where \"Always\" makes a sidecar");
      }
      // A plain init container runs to completion before the others start; probing it means nothing.
      if (group === "initContainers" && container.restartPolicy !== "Always") {
        for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"] as const) {
          if (container[probe]) {
            issue([group, index, probe], "may not be set for init containers without restartPolicy \"Always\"");
          }
        }
      }
    });
  }
}

export const podSpecSchema = podSpecFieldsSchema.superRefine((spec, ctx) => checkPodSpec(spec, ctx));
export type PodSpec = z.infer<typeof podSpecSchema>;

export const podTemplateSpecSchema = z.strictObject({
  metadata: templateMetaSchema.prefault({}),
  spec: podSpecSchema,
});
export type PodTemplateSpec = z.infer<typeof podTemplateSpecSchema>;

/**
 * Controllers that keep pods running need "Always"; Jobs need pods that end.
 * Reported at `template.spec.restartPolicy` relative to the workload spec.
 */
export function checkTemplateRestartPolicy(
  template: { spec: { restartPolicy: RestartPolicy } },
  allowed: readonly RestartPolicy[],
  kind: string,
  ctx: z.RefinementCtx,
): void {
  const policy = template.spec.restartPolicy;
  if (!allowed.includes(policy)) {
    ctx.addIssue({
      code: "custom",
      path: ["template", "spec", "restartPolicy"],
      message: `unsupported value ${JSON.stringify(policy)}${policy === "Always" ? " (the default)" : ""}: a ${kind}'s pods must use ${allowed.map((value) => JSON.stringify(value)).join(" or ")}`,
    });
  }
}
