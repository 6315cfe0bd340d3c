import { z } from "zod";
import { storedEventSchema, type DesiredStore, type ObjectKey, type StoredEvent } from "../desired/index.ts";

/** Response shape of GET /api/events: a page of events, newest first. */
export const eventListSchema = z.object({
  items: z.array(storedEventSchema),
  /** Pass as `before` to get the next (older) page; null on the last page. */
  next: z.number().int().nullable(),
});
export type EventList = z.infer<typeof eventListSchema>;

/** GET /api/events's query: a page size, the previous page's `next`, and the object filters. */
export const eventQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(1).optional(),
  kind: z.string().min(1).optional(),
  namespace: z.string().optional(),
  name: z.string().min(1).optional(),
});
export type EventPageQuery = z.infer<typeof eventQuerySchema>;

/**
 * One page of events, newest first (the store's keyset order: lastTime, then
 * id). One more than the page is read to know whether an older page exists,
 * so `next` is null exactly on the last page.
 */
export async function eventPage(store: DesiredStore, query: EventPageQuery): Promise<EventList> {
  const { limit, ...filter } = query;
  const items = await store.listEvents({ ...filter, limit: limit + 1 });
  const page = items.slice(0, limit);
  return { items: page, next: items.length > limit ? page.at(-1)!.id : null };
}

/** The newest `limit` events about any of `objects` (a workload and its pods), newest first. */
export async function recentEventsOf(store: DesiredStore, objects: readonly ObjectKey[], limit = 20): Promise<StoredEvent[]> {
  const lists = await Promise.all(objects.map(({ kind, namespace, name }) => store.listEvents({ kind, namespace, name, limit })));
  const newestFirst = (a: StoredEvent, b: StoredEvent) => b.lastTime.getTime() - a.lastTime.getTime() || b.id - a.id;
  return lists.flat().sort(newestFirst).slice(0, limit);
}
