import { Hono } from "hono";
import { z } from "zod";
import { NotFoundError } from "../errors.ts";
import { historyEntrySchema, type RolloutLog } from "../desired/index.ts";
import { diffResultSchema, workloadRefSchema, type RollbackService } from "../gitsync/index.ts";
import type { DesiredStore } from "../desired/index.ts";
import { commitPlacementListSchema, commitPlacements } from "./commits.ts";
import { parseQuery } from "./request-input.ts";
import { shaOrPrefixSchema } from "./revisions.ts";

/** Response shape of GET /api/history: the CLI parses with it. */
export const historyListSchema = z.object({ items: z.array(historyEntrySchema) });

const historyQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(20),
  workload: workloadRefSchema.optional(),
});
const diffQuerySchema = z.strictObject({ from: shaOrPrefixSchema, to: shaOrPrefixSchema.optional() });

/** Rollout history, where each commit runs, and manifest diffs between commits (the actions are in actions-api.ts). */
export function historyRoutes(store: DesiredStore, rollouts: RolloutLog | undefined, rollback: Pick<RollbackService, "diff"> | undefined): Hono {
  const api = new Hono();
  const needs = <T>(service: T | undefined, what: string): T => {
    if (!service) throw new NotFoundError(`${what} is not available on this control plane`);
    return service;
  };

  api.get("/history", async (c) => {
    const query = parseQuery(historyQuerySchema, c.req.query());
    const items = await needs(rollouts, "rollout history").history({ limit: query.limit, workload: query.workload });
    return c.json(historyListSchema.parse({ items }));
  });

  api.get("/commits", async (c) => {
    parseQuery(z.strictObject({}), c.req.query());
    return c.json(commitPlacementListSchema.parse({ items: await commitPlacements(store) }));
  });

  api.get("/diff", async (c) => {
    const query = parseQuery(diffQuerySchema, c.req.query());
    return c.json(diffResultSchema.parse(await needs(rollback, "diff").diff(query.from, query.to)));
  });

  return api;
}
