import type { StoredEvent } from "../../desired/index.ts";
import { Badge, Time } from "./layout.tsx";
import type { EventFilter } from "./overview.ts";

/** The query string of an events view: the filter, and a page cursor. */
export function eventsQuery(filter: Partial<EventFilter>, before?: number): string {
  const params = new URLSearchParams();
  if (filter.kind) params.set("kind", filter.kind);
  if (filter.namespace) params.set("namespace", filter.namespace);
  if (filter.name) params.set("name", filter.name);
  if (before !== undefined) params.set("before", String(before));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * Newest first, filterable by object with a plain GET form (works without
 * JavaScript), paged with the store's `before` cursor. `action` is the page
 * the form reloads: `/` or a detail page.
 */
export function EventsSection(props: { events: StoredEvent[]; filter: Partial<EventFilter>; next: number | null; now: Date; action: string; showFilter?: boolean }) {
  const { filter } = props;
  const filtered = Boolean(filter.kind || filter.namespace || filter.name);
  return (
    <section id="events" data-live-region>
      <h2>Events</h2>
      {props.showFilter === false ? null : (
        <form class="event-filter" method="get" action={`${props.action}#events`}>
          <label>
            kind <input name="kind" value={filter.kind ?? ""} size={12} />
          </label>{" "}
          <label>
            namespace <input name="namespace" value={filter.namespace ?? ""} size={12} />
          </label>{" "}
          <label>
            name <input name="name" value={filter.name ?? ""} size={16} />
          </label>{" "}
          <button type="submit">Filter</button>
          {filtered ? (
            <>
              {" "}
              <a href={`${props.action}#events`}>clear</a>
            </>
          ) : null}
        </form>
      )}
      {props.events.length === 0 ? (
        <p class="muted">{filter.before ? "No older events." : "No events."}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>last seen</th>
              <th>type</th>
              <th>object</th>
              <th>reason</th>
              <th>message</th>
              <th>count</th>
              <th>source</th>
            </tr>
          </thead>
          <tbody>
            {props.events.map((event) => (
              <tr data-event={event.id} data-type={event.type}>
                <td>
                  <Time at={event.lastTime} now={props.now} />
                </td>
                <td>
                  <Badge tone={event.type === "Warning" ? "bad" : "unknown"}>{event.type}</Badge>
                </td>
                <td>
                  <a href={`${props.action}${eventsQuery({ kind: event.kind, namespace: event.namespace || undefined, name: event.name })}#events`}>
                    {event.kind}/{event.namespace ? `${event.namespace}/` : ""}
                    {event.name}
                  </a>
                </td>
                <td>{event.reason}</td>
                <td class="message">{event.message}</td>
                <td>{event.count}</td>
                <td class="muted">{event.source}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager">
        {filter.before ? <a href={`${props.action}${eventsQuery(filter)}#events`}>newest</a> : null}{" "}
        {props.next !== null ? (
          <a rel="next" href={`${props.action}${eventsQuery(filter, props.next)}#events`}>
            older events
          </a>
        ) : null}
      </nav>
    </section>
  );
}
