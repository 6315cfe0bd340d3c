import type pg from "pg";
import type { NewEvent, StoredEvent } from "./records.ts";
import type { EventQuery } from "./store.ts";

type Queryable = Pick<pg.Pool, "query">;

/** Records an event through record_event() (migration 001), which folds repeats into one row. */
export async function insertEvent(db: Queryable, event: NewEvent): Promise<void> {
  // record_event's p_at defaults to now() only when omitted, not when NULL.
  await db.query("SELECT 1 FROM record_event($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9::timestamptz, now()))", [
    event.objectUid ?? null,
    event.kind,
    event.namespace,
    event.name,
    event.type,
    event.reason,
    event.message,
    event.source,
    event.at ?? null,
  ]);
}

/**
 * Events newest first. Keyset paging in the listing's own order: a page
 * continues after the (last_time, id) of the event named by `before`; an id no
 * longer stored gives an empty page.
 */
export async function selectEvents(db: Queryable, options: EventQuery): Promise<StoredEvent[]> {
  const result = await db.query(
    `SELECT * FROM events
     WHERE ($1::text IS NULL OR kind = $1)
       AND ($2::text IS NULL OR namespace = $2)
       AND ($3::text IS NULL OR name = $3)
       AND ($4::bigint IS NULL OR (last_time, id) < (SELECT last_time, id FROM events WHERE id = $4))
     ORDER BY last_time DESC, id DESC
     LIMIT $5`,
    [options.kind ?? null, options.namespace ?? null, options.name ?? null, options.before ?? null, options.limit ?? 50],
  );
  return result.rows.map(eventFromRow);
}

function eventFromRow(row: Record<string, any>): StoredEvent {
  return {
    id: Number(row.id),
    objectUid: row.object_uid,
    kind: row.kind,
    namespace: row.namespace,
    name: row.name,
    type: row.type,
    reason: row.reason,
    message: row.message,
    count: Number(row.count),
    firstTime: row.first_time,
    lastTime: row.last_time,
    source: row.source,
  };
}
