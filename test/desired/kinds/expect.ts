import { expect } from "vitest";
import type { z } from "zod";
import { findKind, type KindDefinition } from "../../../src/desired/kinds/index.ts";

/** Helpers that keep the kind tests reading as tables of manifests and verdicts. */

export function kindOf(kind: string): KindDefinition {
  const definition = findKind(kind);
  if (!definition) throw new Error(`kind ${kind} is not registered`);
  return definition;
}

/** Parses a manifest that must be valid and returns it with defaults applied. */
export function accept(kind: string, manifest: unknown): any {
  const result = kindOf(kind).schema.safeParse(manifest);
  if (!result.success) {
    throw new Error(`expected ${kind} to be valid, got:\n${JSON.stringify(result.error.issues, null, 2)}`);
  }
  return result.data;
}

/** The issues of a manifest that must be invalid. */
export function reject(kind: string, manifest: unknown): z.core.$ZodIssue[] {
  const result = kindOf(kind).schema.safeParse(manifest);
  expect(result.success, `expected ${kind} to be rejected`).toBe(false);
  return result.error!.issues;
}

/** A deep copy of `base` changed by `edit`, so each invalid fixture says only what differs. */
export function variant<T>(base: T, edit: (copy: any) => void): T {
  const copy = structuredClone(base);
  edit(copy);
  return copy;
}

export interface InvalidCase {
  name: string;
  manifest: unknown;
  path: (string | number)[];
  message: RegExp;
}

/** Asserts that a manifest is rejected with an issue at exactly `path` whose message matches. */
export function expectIssue(kind: string, manifest: unknown, path: (string | number)[], message: RegExp): void {
  const issues = reject(kind, manifest);
  const atPath = issues.filter((issue) => JSON.stringify(issue.path) === JSON.stringify(path));
  expect(atPath, `no issue at ${JSON.stringify(path)}; issues were ${JSON.stringify(issues)}`).not.toHaveLength(0);
  expect(atPath.map((issue) => issue.message)).toContainEqual(expect.stringMatching(message));
}

/** A minimal valid pod template whose labels are `labels`. */
export function podTemplate(labels: Record<string, string>, spec: Record<string, unknown> = {}) {
  return {
    metadata: { labels },
    spec: { containers: [{ name: "main", command: ["node", "app/main.js"] }], ...spec },
  };
}
