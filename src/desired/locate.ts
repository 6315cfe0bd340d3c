import { isAlias, isCollection, isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from "yaml";
import type { ParsedDocument } from "./parse.ts";

export type FieldPath = readonly (string | number)[];

export interface FieldLocation {
  line: number;
  column: number;
}

/**
 * Where a field path points in a document, for error messages. It walks the
 * path as far as the document goes and answers the key of the deepest field
 * found (a sequence item's own start): for a wrong value that is the line the
 * user edits; for a missing field it is the key of the mapping that lacks it,
 * and the document's start when the document itself lacks it.
 */
export function locateField(parsed: ParsedDocument, path: FieldPath): FieldLocation {
  const { document, lineCounter } = parsed;
  let node: Node | null = document.contents;
  let offset = node?.range?.[0] ?? 0;
  // An alias is followed to its anchor; the path bounds the walk, so an alias cycle cannot loop.
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(document) ?? null;
    if (isMap(node)) {
      const pair = scalarKeyIndex(node).get(String(segment));
      if (!pair || !isScalar(pair.key)) break;
      offset = pair.key.range?.[0] ?? offset;
      node = isCollection(pair.value) || isScalar(pair.value) || isAlias(pair.value) ? pair.value : null;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment];
      if (!isCollection(item) && !isScalar(item) && !isAlias(item)) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

// Validation locates a field per key of a ConfigMap or Secret: searching the mapping each time was
// quadratic, seconds for 10,000 keys. The first pair of each key, as the search found it.
const keyIndexes = new WeakMap<YAMLMap, Map<string, Pair>>();

function scalarKeyIndex(map: YAMLMap): Map<string, Pair> {
  let index = keyIndexes.get(map);
  if (!index) {
    index = new Map();
    for (const item of map.items) {
      if (!isScalar(item.key)) continue;
      const key = String(item.key.value);
      if (!index.has(key)) index.set(key, item as Pair);
    }
    keyIndexes.set(map, index);
  }
  return index;
}

/** `spec.template.spec.containers[0].ports[1].containerPort`; keys that are not plain words are quoted: `labels["app.kubernetes.io/name"]`. */
export function formatFieldPath(path: FieldPath): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) text += text ? `.${segment}` : segment;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}
