import { Hono } from "hono";
import type { DesiredStore } from "../desired/index.ts";
import { eventListSchema, eventPage, eventQuerySchema } from "./events.ts";
import { parseQuery } from "./request-input.ts";

/** GET /api/events: pages of events, newest first, optionally about one object (kind, namespace, name). */
export function eventRoutes(store: DesiredStore): Hono {
  const api = new Hono();
  api.get("/events", async (c) => {
    const query = parseQuery(eventQuerySchema, c.req.query());
    return c.json(eventListSchema.parse(await eventPage(store, query)));
  });
  return api;
}
