import type { ManifestProblem } from "../errors.ts";
import { formatFieldPath, type FieldPath } from "./locate.ts";
import { fieldLocation } from "./object-locations.ts";
import { configKeys, configReferences } from "./references.ts";
import type { DesiredObject } from "./types.ts";

/**
 * The checks that need the whole commit, decided as Kubernetes would decide
 * them, so that a commit that would not work on a cluster does not work here
 * either, and one that would does:
 *
 * - Two manifests for the same kind, namespace and name are an error, reported
 *   on the later one (by file, then position) and naming the first: the API
 *   server keeps one object per name, and which manifest won would depend on
 *   the order files happen to be applied in.
 * - A namespaced object in a namespace that no Namespace manifest of the same
 *   commit declares is an error: the API server refuses to create it
 *   (NotFound). `default` always exists.
 * - A pod template (Pod, Deployment, ReplicaSet, DaemonSet, StatefulSet, Job,
 *   CronJob) that reads a ConfigMap or Secret (env `valueFrom`, `envFrom`,
 *   `configMap`/`secret` volumes, projected sources) which the commit does
 *   not hold in the same namespace, or a key that object lacks, is a
 *   warning: the API server accepts the workload and its pods fail to start
 *   (CreateContainerConfigError, or a volume that never mounts) until the
 *   object appears. A reference marked `optional: true` is no problem at all:
 *   the pod starts without it.
 */
export function validateObjectSet(objects: readonly DesiredObject[]): ManifestProblem[] {
  const ordered = [...objects].sort(bySource);
  const problems: ManifestProblem[] = [];
  const problem = (object: DesiredObject, path: FieldPath, message: string, severity: ManifestProblem["severity"] = "error") =>
    problems.push({ file: object.source.file, ...fieldLocation(object, path), path: formatFieldPath(path), message, severity });

  const firstByKey = new Map<string, DesiredObject>();
  for (const object of ordered) {
    const key = objectKey(object.kind, object.namespace, object.name);
    const first = firstByKey.get(key);
    if (!first) {
      firstByKey.set(key, object);
      continue;
    }
    const where = `${first.source.file}:${first.source.line}:${first.source.column}`;
    const namespace = object.namespace ? ` in namespace ${JSON.stringify(object.namespace)}` : "";
    problem(object, ["metadata", "name"], `${object.kind} ${JSON.stringify(object.name)}${namespace} is already defined at ${where}`);
  }

  const declaredNamespaces = new Set(ordered.filter((object) => object.kind === "Namespace").map((object) => object.name));
  for (const object of ordered) {
    if (object.namespace === "" || object.namespace === "default" || declaredNamespaces.has(object.namespace)) continue;
    problem(
      object,
      ["metadata", "namespace"],
      `namespace ${JSON.stringify(object.namespace)} not found: no Namespace manifest in this commit declares it`,
    );
  }

  for (const object of ordered) {
    for (const reference of configReferences(object)) {
      if (reference.optional) continue;
      const target = firstByKey.get(objectKey(reference.kind, object.namespace, reference.name));
      if (!target) {
        problem(
          object,
          reference.path,
          `${reference.kind} ${JSON.stringify(reference.name)} not found in namespace ${JSON.stringify(object.namespace)} in this commit: ` +
            (reference.consequence ? `${reference.consequence} until it exists` : "the pods will not start until it exists (set optional: true if they should start without it)"),
          "warning",
        );
        continue;
      }
      const keys = configKeys(target);
      for (const { key, path } of reference.keys) {
        if (keys.has(key)) continue;
        problem(
          object,
          path,
          `${reference.kind} ${JSON.stringify(reference.name)} has no key ${JSON.stringify(key)}: ` +
            (reference.consequence ? `${reference.consequence} until it does` : "the pods will not start until it does (set optional: true if they should start without it)"),
          "warning",
        );
      }
    }
  }
  return problems;
}

function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}\u0000${namespace}\u0000${name}`;
}

function bySource(a: DesiredObject, b: DesiredObject): number {
  if (a.source.file !== b.source.file) return a.source.file < b.source.file ? -1 : 1;
  return a.source.line - b.source.line || a.source.column - b.source.column;
}
