import { createHash } from "node:crypto";
import { canonicalJson, type DesiredStore, type ObjectKey, type PodTemplateSpec, type StoredObject } from "../desired/index.ts";
import { referencedConfig } from "../nodes/index.ts";
import type { ObjectChange, ReconcileContext } from "./types.ts";

/**
 * ConfigMap and Secret changes roll the pods that use them (the
 * "checksum/config" annotation Helm users add by hand, done for them): the
 * template gets an annotation holding a hash of every ConfigMap and Secret it
 * refers to, so a change to one is a new template, hence a rolling update.
 */
export const configHashAnnotation = "capstan.dev/config-hash";

export async function templateWithConfigHash(store: DesiredStore, namespace: string, template: PodTemplateSpec): Promise<PodTemplateSpec> {
  const { configMaps, secrets } = referencedConfig(template.spec);
  if (configMaps.size === 0 && secrets.size === 0) return template;
  const [maps, secretObjects] = await Promise.all([
    Promise.all([...configMaps].sort().map((name) => store.getObject({ kind: "ConfigMap", namespace, name }))),
    Promise.all([...secrets].sort().map((name) => store.getObject({ kind: "Secret", namespace, name }))),
  ]);
  const content = (objects: (StoredObject | null)[]) => objects.map((object) => (object ? object.spec : null));
  // A Secret enters the hash by identity and generation (bumped on every data change), never by content: the
  // annotation is shown on templates and pods, and a hash of the data would let anyone test guesses offline.
  const version = (objects: (StoredObject | null)[]) => objects.map((object) => (object ? `${object.uid}/${object.generation}` : null));
  const hash = createHash("sha256").update(canonicalJson({ configMaps: content(maps), secrets: version(secretObjects) })).digest("hex").slice(0, 16);
  return {
    ...template,
    metadata: { ...template.metadata, annotations: { ...template.metadata.annotations, [configHashAnnotation]: hash } },
  };
}

/** A ConfigMap or Secret change concerns the workloads of its namespace that refer to it. */
export function refersTo(template: PodTemplateSpec, kind: string, name: string): boolean {
  const { configMaps, secrets } = referencedConfig(template.spec);
  return kind === "ConfigMap" ? configMaps.has(name) : kind === "Secret" ? secrets.has(name) : false;
}

/**
 * keysFor of a workload controller: a ConfigMap or Secret change wakes the
 * workloads of `kind` in its namespace whose pod template refers to it.
 */
export async function configReferrerKeys(change: ObjectChange, ctx: ReconcileContext, kind: string): Promise<ObjectKey[]> {
  const workloads = await ctx.store.listObjects({ kind, namespace: change.namespace });
  return workloads
    .filter((workload) => refersTo((workload.spec as { template: PodTemplateSpec }).template, change.kind, change.name))
    .map((workload) => ({ kind, namespace: workload.namespace, name: workload.name }));
}
