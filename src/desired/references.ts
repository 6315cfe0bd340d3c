import { z } from "zod";
import type { FieldPath } from "./locate.ts";
import type { DesiredObject } from "./types.ts";

/**
 * The ConfigMaps and Secrets a workload's pods read, each with the manifest
 * path of the reference, so that the commit can be checked for them.
 */

export interface ConfigReference {
  kind: "ConfigMap" | "Secret";
  name: string;
  /** `optional: true`: Kubernetes starts the pod without the object or key. */
  optional: boolean;
  /** Manifest path of the field naming the object. */
  path: FieldPath;
  /** Keys the pod needs from the object, each with the manifest path naming it. */
  keys: { key: string; path: FieldPath }[];
  /** What goes wrong while the reference is unmet, for the warning; pods not starting unless said otherwise. */
  consequence?: string;
}

// A Notifier signs with a key from a Secret (src/desired/kinds/notifier.ts).
const notifierSecretView = z.object({ secretRef: z.object({ name: z.string(), key: z.string() }).optional() });

// Where each workload kind keeps its pod spec, as a manifest path.
const podSpecPaths: Record<string, FieldPath> = {
  Pod: ["spec"],
  Deployment: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

// Views of an already validated pod spec: only the fields that name other objects.
const keyRefView = z.object({ name: z.string(), key: z.string(), optional: z.boolean().optional() });
const objectRefView = z.object({ name: z.string(), optional: z.boolean().optional() });
const itemsView = z.array(z.object({ key: z.string() })).optional();
const containerView = z.object({
  env: z
    .array(z.object({ valueFrom: z.object({ configMapKeyRef: keyRefView.optional(), secretKeyRef: keyRefView.optional() }).optional() }))
    .optional(),
  envFrom: z.array(z.object({ configMapRef: objectRefView.optional(), secretRef: objectRefView.optional() })).optional(),
});
const projectedKeysView = z.object({ name: z.string(), items: itemsView, optional: z.boolean().optional() });
const podSpecView = z.object({
  containers: z.array(containerView).optional(),
  initContainers: z.array(containerView).optional(),
  volumes: z
    .array(
      z.object({
        configMap: projectedKeysView.optional(),
        secret: z.object({ secretName: z.string(), items: itemsView, optional: z.boolean().optional() }).optional(),
        projected: z
          .object({ sources: z.array(z.object({ configMap: projectedKeysView.optional(), secret: projectedKeysView.optional() })) })
          .optional(),
      }),
    )
    .optional(),
});

export function configReferences(object: DesiredObject): ConfigReference[] {
  if (object.kind === "Notifier") {
    const ref = notifierSecretView.safeParse(object.spec).data?.secretRef;
    if (!ref) return [];
    const path: FieldPath = ["spec", "secretRef"];
    return [{ kind: "Secret", name: ref.name, optional: false, path: [...path, "name"], keys: [{ key: ref.key, path: [...path, "key"] }], consequence: "its deliveries will fail" }];
  }
  const podSpecPath = podSpecPaths[object.kind];
  if (!podSpecPath) return [];
  // DesiredObject.spec is the manifest's `spec`, so the manifest path drops its leading "spec".
  let podSpecValue: unknown = object.spec;
  for (const segment of podSpecPath.slice(1)) {
    podSpecValue = typeof podSpecValue === "object" && podSpecValue !== null ? Reflect.get(podSpecValue, segment) : undefined;
  }
  const view = podSpecView.safeParse(podSpecValue);
  if (!view.success) return [];
  const podSpec = view.data;
  const references: ConfigReference[] = [];
  const add = (kind: ConfigReference["kind"], name: string, optional: boolean | undefined, path: FieldPath, keys: ConfigReference["keys"] = []) =>
    references.push({ kind, name, optional: optional ?? false, path, keys });

  for (const group of ["initContainers", "containers"] as const) {
    podSpec[group]?.forEach((container, containerIndex) => {
      const containerPath = [...podSpecPath, group, containerIndex];
      container.env?.forEach((envVar, envIndex) => {
        const sourcePath = [...containerPath, "env", envIndex, "valueFrom"];
        for (const [field, kind] of [["configMapKeyRef", "ConfigMap"], ["secretKeyRef", "Secret"]] as const) {
          const ref = envVar.valueFrom?.[field];
          if (ref) add(kind, ref.name, ref.optional, [...sourcePath, field, "name"], [{ key: ref.key, path: [...sourcePath, field, "key"] }]);
        }
      });
      container.envFrom?.forEach((source, sourceIndex) => {
        const sourcePath = [...containerPath, "envFrom", sourceIndex];
        if (source.configMapRef) add("ConfigMap", source.configMapRef.name, source.configMapRef.optional, [...sourcePath, "configMapRef", "name"]);
        if (source.secretRef) add("Secret", source.secretRef.name, source.secretRef.optional, [...sourcePath, "secretRef", "name"]);
      });
    });
  }

  const itemKeys = (items: { key: string }[] | undefined, path: FieldPath) =>
    (items ?? []).map((item, index) => ({ key: item.key, path: [...path, "items", index, "key"] }));
  podSpec.volumes?.forEach((volume, volumeIndex) => {
    const volumePath = [...podSpecPath, "volumes", volumeIndex];
    if (volume.configMap) {
      const path = [...volumePath, "configMap"];
      add("ConfigMap", volume.configMap.name, volume.configMap.optional, [...path, "name"], itemKeys(volume.configMap.items, path));
    }
    if (volume.secret) {
      const path = [...volumePath, "secret"];
      add("Secret", volume.secret.secretName, volume.secret.optional, [...path, "secretName"], itemKeys(volume.secret.items, path));
    }
    volume.projected?.sources.forEach((source, sourceIndex) => {
      for (const [field, kind] of [["configMap", "ConfigMap"], ["secret", "Secret"]] as const) {
        const projection = source[field];
        if (!projection) continue;
        const path = [...volumePath, "projected", "sources", sourceIndex, field];
        add(kind, projection.name, projection.optional, [...path, "name"], itemKeys(projection.items, path));
      }
    });
  });
  return references;
}

/** The keys a ConfigMap or Secret in the commit holds: what its `spec` (see each kind's `specOf`) carries. */
export function configKeys(object: DesiredObject): Set<string> {
  const view = z
    .object({ data: z.record(z.string(), z.unknown()).optional(), binaryData: z.record(z.string(), z.unknown()).optional() })
    .safeParse(object.spec);
  if (!view.success) return new Set();
  return new Set([...Object.keys(view.data.data ?? {}), ...Object.keys(view.data.binaryData ?? {})]);
}
