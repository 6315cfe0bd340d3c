import type { z } from "zod";
import type { FieldPath } from "./locate.ts";

/** One schema complaint, reduced to a field path and the words a user should read. */
export interface FieldIssue {
  path: FieldPath;
  message: string;
}

/**
 * Turns zod's issues into field issues a manifest author can act on: an
 * unknown field is named at its own key, a missing field says so (zod only
 * says "received undefined"), and a union that no branch matched names the
 * branch that came closest, not a bare "Invalid input".
 */
export function fieldIssues(issues: readonly z.core.$ZodIssue[], manifest: unknown, prefix: FieldPath = []): FieldIssue[] {
  return issues.flatMap((issue) => fieldIssuesOf(issue, manifest, prefix));
}

function fieldIssuesOf(issue: z.core.$ZodIssue, manifest: unknown, prefix: FieldPath): FieldIssue[] {
  const path = [...prefix, ...issue.path.map((segment) => (typeof segment === "symbol" ? String(segment) : segment))];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({ path: [...path, key], message: `unknown field ${JSON.stringify(key)}` }));
    case "invalid_type": {
      const found = valueAt(manifest, path);
      if (!found.present) return [{ path, message: "Required value" }];
      return [{ path, message: withoutZodPrefix(issue.message) }];
    }
    case "invalid_union":
      return unionIssues(issue, manifest, path);
    default:
      return [{ path, message: withoutZodPrefix(issue.message) }];
  }
}

function unionIssues(issue: z.core.$ZodIssueInvalidUnion, manifest: unknown, path: FieldPath): FieldIssue[] {
  if (issue.errors.length === 0) return [{ path, message: withoutZodPrefix(issue.message) }];
  // A branch whose complaints are not "wrong type here" matched the shape and only failed a rule: report that rule.
  const closest = issue.errors.find((branch) => !branch.some((inner) => inner.code === "invalid_type" && inner.path.length === 0));
  if (closest) return fieldIssues(closest, manifest, path);
  const found = valueAt(manifest, path);
  if (!found.present) return [{ path, message: "Required value" }];
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const inner of branch) if (inner.code === "invalid_type") expected.add(inner.expected);
  }
  if (expected.size === 0) return [{ path, message: withoutZodPrefix(issue.message) }];
  return [{ path, message: `expected ${[...expected].join(" or ")}, received ${typeName(found.value)}` }];
}

function withoutZodPrefix(message: string): string {
  return message.replace(/^Invalid input: /, "");
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "object" ? "object" : typeof value;
}

function valueAt(root: unknown, path: FieldPath): { present: boolean; value?: unknown } {
  let value = root;
  for (const segment of path) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, segment)) return { present: false };
    value = Reflect.get(value, segment);
  }
  return { present: value !== undefined, value };
}
