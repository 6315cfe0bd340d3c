import type { StoredObject } from "../../desired/index.ts";
import type { PodSpec } from "../../desired/index.ts";
import type { AgentPodInput } from "../protocol.ts";

/** Annotation a controller sets on the pods it makes: the commit whose template they run. */
export const commitAnnotation = "capstan.dev/commit";

/**
 * A stored Pod as the agent receives it: everything it refers to resolved,
 * so that the agent runs it with no store at hand. Only the ConfigMaps and
 * Secrets the pod names travel, never the namespace's others.
 */
export function toAgentPod(
  pod: StoredObject,
  lookup: { configMap(namespace: string, name: string): StoredObject | undefined; secret(namespace: string, name: string): StoredObject | undefined },
  workingDirBase?: string,
): AgentPodInput {
  const spec = pod.spec as PodSpec;
  const { configMaps, secrets } = referencedConfig(spec);
  const configMapData: Record<string, Record<string, string>> = {};
  const configMapBinaryData: Record<string, Record<string, string>> = {};
  for (const name of configMaps) {
    const object = lookup.configMap(pod.namespace, name);
    if (!object) continue;
    const { data, binaryData } = object.spec as { data?: Record<string, string>; binaryData?: Record<string, string> };
    configMapData[name] = { ...(data ?? {}) };
    if (binaryData && Object.keys(binaryData).length > 0) configMapBinaryData[name] = { ...binaryData };
  }
  const secretData: Record<string, Record<string, string>> = {};
  for (const name of secrets) {
    const object = lookup.secret(pod.namespace, name);
    if (object) secretData[name] = { ...((object.spec as { data?: Record<string, string> }).data ?? {}) };
  }
  return {
    uid: pod.uid,
    namespace: pod.namespace,
    name: pod.name,
    labels: pod.labels,
    annotations: pod.annotations,
    spec,
    commitSha: pod.annotations[commitAnnotation] ?? pod.revisionSha ?? undefined,
    ...(workingDirBase ? { workingDirBase } : {}),
    configMaps: configMapData,
    ...(Object.keys(configMapBinaryData).length > 0 ? { configMapBinaryData } : {}),
    secrets: secretData,
  };
}

/** The names of every ConfigMap and Secret a pod spec refers to (env, envFrom, volumes, projected volumes). */
export function referencedConfig(spec: PodSpec): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) configMaps.add(source.configMapRef.name);
      if (source.secretRef) secrets.add(source.secretRef.name);
    }
    for (const variable of container.env ?? []) {
      if (variable.valueFrom?.configMapKeyRef) configMaps.add(variable.valueFrom.configMapKeyRef.name);
      if (variable.valueFrom?.secretKeyRef) secrets.add(variable.valueFrom.secretKeyRef.name);
    }
  }
  for (const volume of spec.volumes ?? []) {
    if (volume.configMap) configMaps.add(volume.configMap.name);
    if (volume.secret) secrets.add(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap) configMaps.add(source.configMap.name);
      if (source.secret) secrets.add(source.secret.name);
    }
  }
  return { configMaps, secrets };
}
