import type { DesiredStore, PodTemplateSpec, StoredObject } from "../desired/index.ts";
import { autoscaledReplicas } from "./autoscale.ts";
import { templateWithConfigHash } from "./config-hash.ts";

/**
 * A workload as its controller runs it, which is not quite as Git wrote it:
 * its template stamped with the hash of the config it reads (so a config
 * change rolls it), and, for the kinds an autoscaler may target, the
 * autoscaler's decided replicas in place of Git's while one targets it.
 */
export async function workloadToRun(store: DesiredStore, workload: StoredObject, options: { autoscaled: boolean }): Promise<StoredObject> {
  const spec = workload.spec as { template: PodTemplateSpec; replicas?: number };
  const template = await templateWithConfigHash(store, workload.namespace, spec.template);
  const decided = options.autoscaled ? await autoscaledReplicas(store, workload) : null;
  return { ...workload, spec: { ...spec, ...(decided === null ? {} : { replicas: decided }), template } };
}
