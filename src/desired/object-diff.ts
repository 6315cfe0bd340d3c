import { z } from "zod";
import { canonicalJson } from "./canonical.ts";

/**
 * What one commit changed, object by object: added, changed (with the fields
 * that changed) or removed. Pure, so that the revision history written by the
 * store and `capstan diff` between any two commits say the same thing.
 */

export const fieldChangeSchema = z.object({
  /** `spec.template.spec.containers[0].env[0].value`, `metadata.labels.app`. */
  path: z.string(),
  /** Absent when the field did not exist, or for a Secret's values (never shown). */
  from: z.unknown().optional(),
  to: z.unknown().optional(),
});
export type FieldChange = z.infer<typeof fieldChangeSchema>;

export const objectChangeRecordSchema = z.object({
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  change: z.enum(["added", "changed", "removed"]),
  /** For `changed`: the fields that differ, at most `maxFieldsPerObject` of them. */
  fields: z.array(fieldChangeSchema),
  /** True when more fields differ than are listed. */
  truncated: z.boolean().optional(),
});
export type ObjectChangeRecord = z.infer<typeof objectChangeRecordSchema>;

/** The parts of an object a commit sets: what is compared. */
export interface ComparableObject {
  kind: string;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
}

/** Bounds what one object adds to a revision's record: a 5,000-line ConfigMap change is "changed", not 5,000 rows. */
export const maxFieldsPerObject = 50;

const keyOf = (object: { kind: string; namespace: string; name: string }): string => `${object.kind}\u0001${object.namespace}\u0001${object.name}`;

/**
 * The object-level difference between two sets, ordered by kind, namespace,
 * name. Objects whose labels, annotations and spec are equal are not listed
 * (moving a manifest to another file or line is not a change of the object).
 */
export function diffObjects(before: readonly ComparableObject[], after: readonly ComparableObject[]): ObjectChangeRecord[] {
  const beforeByKey = new Map(before.map((object) => [keyOf(object), object]));
  const afterKeys = new Set(after.map(keyOf));
  const changes: ObjectChangeRecord[] = [];
  for (const object of after) {
    const old = beforeByKey.get(keyOf(object));
    const id = { kind: object.kind, namespace: object.namespace, name: object.name };
    if (!old) {
      changes.push({ ...id, change: "added", fields: [] });
      continue;
    }
    const fields = fieldChanges(comparable(old), comparable(object), "", object.kind === "Secret");
    if (fields.length === 0) continue;
    const record: ObjectChangeRecord = { ...id, change: "changed", fields: fields.slice(0, maxFieldsPerObject) };
    if (fields.length > maxFieldsPerObject) record.truncated = true;
    changes.push(record);
  }
  for (const object of before) {
    if (!afterKeys.has(keyOf(object))) changes.push({ kind: object.kind, namespace: object.namespace, name: object.name, change: "removed", fields: [] });
  }
  return changes.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
}

function comparable(object: ComparableObject): Record<string, unknown> {
  return { metadata: { labels: object.labels, annotations: object.annotations }, spec: object.spec };
}

/** Leaf-level differences; arrays are compared index by index, as `kubectl diff` shows them. */
export function fieldChanges(before: unknown, after: unknown, path: string, hideValues = false): FieldChange[] {
  if (canonicalJson(before) === canonicalJson(after)) return [];
  const bothObjects = isPlainObject(before) && isPlainObject(after);
  const bothArrays = Array.isArray(before) && Array.isArray(after);
  if (bothObjects) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => fieldChanges(before[key], after[key], path ? `${path}.${key}` : key, hideValues));
  }
  if (bothArrays) {
    const length = Math.max(before.length, after.length);
    return Array.from({ length }, (_, index) => fieldChanges(before[index], after[index], `${path}[${index}]`, hideValues)).flat();
  }
  const change: FieldChange = { path };
  if (!hideValues) {
    if (before !== undefined) change.from = before;
    if (after !== undefined) change.to = after;
  }
  return [change];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One line per change, as `capstan diff` and `--dry-run` print them. */
export function formatChanges(changes: readonly ObjectChangeRecord[]): string {
  if (changes.length === 0) return "no changes\n";
  const lines: string[] = [];
  for (const change of changes) {
    const sign = change.change === "added" ? "+" : change.change === "removed" ? "-" : "~";
    lines.push(`${sign} ${change.kind} ${change.namespace ? `${change.namespace}/` : ""}${change.name}`);
    for (const field of change.fields) {
      const value = (v: unknown) => (v === undefined ? "(none)" : JSON.stringify(v));
      const shown = "from" in field || "to" in field ? `: ${value(field.from)} -> ${value(field.to)}` : " (value hidden)";
      lines.push(`    ${field.path}${shown}`);
    }
    if (change.truncated) lines.push("    … more fields changed");
  }
  return `${lines.join("\n")}\n`;
}
