import { formatFieldPath, locateField, type FieldLocation, type FieldPath } from "./locate.ts";
import type { ParsedDocument } from "./parse.ts";
import type { DesiredObject } from "./types.ts";

/**
 * A DesiredObject carries only where its document starts, yet the checks
 * across files (duplicates, namespaces, references) should point at the
 * offending field. The few positions they may need are noted when the object
 * is built, beside it rather than on it, so nothing extra is stored or
 * compared and the syntax tree can be freed. An object built elsewhere (a
 * test, a deserialised cache) falls back to its document's start.
 */
const locations = new WeakMap<DesiredObject, Map<string, FieldLocation>>();

export function rememberFieldLocations(object: DesiredObject, parsed: ParsedDocument, paths: readonly FieldPath[]): void {
  const byPath = new Map<string, FieldLocation>();
  for (const path of paths) byPath.set(formatFieldPath(path), locateField(parsed, path));
  locations.set(object, byPath);
}

export function fieldLocation(object: DesiredObject, path: FieldPath): FieldLocation {
  return locations.get(object)?.get(formatFieldPath(path)) ?? { line: object.source.line, column: object.source.column };
}

/** Whether `path` was noted for the object (so it is in its manifest). */
export function hasFieldLocation(object: DesiredObject, path: FieldPath): boolean {
  return locations.get(object)?.has(formatFieldPath(path)) ?? false;
}

/** The noted positions of an object, to carry it across a thread boundary (which drops the side table). */
export function fieldLocationsOf(object: DesiredObject): Array<[string, FieldLocation]> {
  return [...(locations.get(object) ?? [])];
}

/** Notes positions carried over from another thread (see `fieldLocationsOf`). */
export function restoreFieldLocations(object: DesiredObject, entries: Array<[string, FieldLocation]>): void {
  if (entries.length > 0) locations.set(object, new Map(entries));
}
