import { canonicalJson, type StoredObject } from "../desired/index.ts";

/** Whether writing `status` (with the object's generation as observed) would change the stored row: a pass with nothing to do writes nothing. */
export function statusChanged(object: StoredObject, status: Record<string, unknown>): boolean {
  if (object.observedGeneration !== object.generation) return true;
  const merged = { ...object.status, ...status };
  return canonicalJson(merged) !== canonicalJson(object.status);
}

/** Runs `work` over `items`, at most `size` at once. */
export async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map(work));
  }
}
