import { createHash } from "node:crypto";
import type { DesiredObject } from "./types.ts";

/**
 * JSON with object keys sorted at every depth, so that two equal values always
 * serialise to the same string whatever order their keys were written in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner && typeof inner === "object" && !Array.isArray(inner)) {
      const sorted: Record<string, unknown> = {};
      for (const key of Object.keys(inner).sort()) sorted[key] = (inner as Record<string, unknown>)[key];
      return sorted;
    }
    return inner;
  });
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}

// A validated object is immutable and, for an unchanged file, the very same
// object on every sync (gitsync caches results by blob id): its hashes are
// computed once, not once per sync.
const specHashes = new WeakMap<object, string>();
const gitHashes = new WeakMap<DesiredObject, string>();

/** The hash that decides whether a spec changed (and so whether `generation` is bumped). */
export function specHash(spec: Record<string, unknown>): string {
  let known = specHashes.get(spec);
  if (known === undefined) specHashes.set(spec, (known = hash(canonicalJson(spec))));
  return known;
}

/** Everything Git sets on an object, hashed: equal hashes mean a sync has nothing to write. */
export function gitHash(object: DesiredObject): string {
  let known = gitHashes.get(object);
  if (known === undefined) {
    const { apiVersion, labels, annotations, source } = object;
    known = hash(canonicalJson([apiVersion, labels, annotations, specHash(object.spec), source.file, source.line]));
    gitHashes.set(object, known);
  }
  return known;
}
