import { Hono } from "hono";
import { z } from "zod";
import type { DesiredStore, RolloutLog } from "../desired/index.ts";
import { parseQuery } from "./request-input.ts";
import { revisionDetail, revisionDetailSchema, revisionListSchema, revisionPage, revisionQuerySchema } from "./revisions.ts";

/** GET /api/revisions (pages, newest first) and GET /api/revisions/:sha (one commit, its changes and rollouts). */
export function revisionRoutes(store: DesiredStore, rollouts: RolloutLog | undefined): Hono {
  const api = new Hono();

  api.get("/revisions", async (c) => {
    const query = parseQuery(revisionQuerySchema, c.req.query());
    return c.json(revisionListSchema.parse(await revisionPage(store, query)));
  });

  api.get("/revisions/:sha", async (c) => {
    parseQuery(z.strictObject({}), c.req.query());
    return c.json(revisionDetailSchema.parse(await revisionDetail(store, rollouts, c.req.param("sha"))));
  });

  return api;
}
