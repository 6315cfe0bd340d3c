import type { ManifestProblem } from "../errors.ts";
import { formatFieldPath, type FieldPath } from "./locate.ts";
import { fieldLocation, hasFieldLocation } from "./object-locations.ts";
import type { StoredObject } from "./records.ts";
import type { DesiredObject } from "./types.ts";

/**
 * ConfigMaps and Secrets marked `immutable: true` are refused any change, as
 * the Kubernetes API server refuses the update ("field is immutable when
 * `immutable` is set"): their data, their Secret type, and the mark itself.
 * Deleting one is allowed, so a changed copy is a commit that removes it and
 * a later one that adds it back (or one that adds it under a new name).
 *
 * This is the one check that needs the live revision, not only the commit:
 * gitsync runs it between validating a commit and applying it. Messages
 * name keys, never values: a Secret's value must not reach an error.
 */
export function checkImmutableConfig(objects: readonly DesiredObject[], live: readonly StoredObject[]): ManifestProblem[] {
  const liveByKey = new Map(live.map((object) => [objectKey(object), object]));
  const problems: ManifestProblem[] = [];
  for (const object of objects) {
    if (object.kind !== "ConfigMap" && object.kind !== "Secret") continue;
    const current = liveByKey.get(objectKey(object));
    if (!current || (current.spec as { immutable?: boolean }).immutable !== true) continue;
    const problem = (path: FieldPath, what: string) =>
      problems.push({
        file: object.source.file,
        ...fieldLocation(object, path),
        path: formatFieldPath(path),
        message:
          `field is immutable when \`immutable\` is set: ${object.kind} ${JSON.stringify(object.name)} in namespace ${JSON.stringify(object.namespace)} ` +
          `is immutable in the live revision${current.revisionSha ? ` ${current.revisionSha.slice(0, 12)}` : ""} and this commit ${what}; ` +
          "remove it in one commit and add it back in the next, or give the changed copy a new name",
        severity: "error",
      });

    const before = current.spec as ConfigSpec;
    const after = object.spec as ConfigSpec;
    if (after.immutable !== true) problem(["immutable"], "clears the mark");
    if (object.kind === "Secret" && (before.type ?? "Opaque") !== (after.type ?? "Opaque")) problem(["type"], "changes its type");
    for (const field of ["data", "binaryData"] as const) {
      const changed = changedKeys(before[field] ?? {}, after[field] ?? {});
      if (changed.length === 0) continue;
      // A Secret's `data` is stored with `stringData` merged in: point at the field the user wrote.
      const where = (key: string): FieldPath =>
        object.kind === "Secret" && hasFieldLocation(object, ["stringData", key]) ? ["stringData", key] : [field, key];
      const first = changed.find((key) => Object.hasOwn(after[field] ?? {}, key));
      const listed = changed.map((key) => JSON.stringify(key)).join(", ");
      problem(first !== undefined ? where(first) : [field], `changes ${field} key${changed.length === 1 ? "" : "s"} ${listed}`);
    }
  }
  return problems;
}

interface ConfigSpec {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  type?: string;
  immutable?: boolean;
}

/** Keys added, removed or given another value; sorted. Values are compared, never reported. */
function changedKeys(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => before[key] !== after[key]).sort();
}

function objectKey(object: { kind: string; namespace: string; name: string }): string {
  return `${object.kind}\u0000${object.namespace}\u0000${object.name}`;
}
