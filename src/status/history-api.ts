import { Hono } from "hono";
import { z } from "zod";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { authorizeAction, bearerToken } from "./auth.ts";
import { historyEntrySchema, type RolloutLog } from "../desired/index.ts";
import { rollbackRequestSchema, workloadRefSchema, type RollbackService } from "../gitsync/index.ts";
import type { DesiredStore } from "../desired/index.ts";
import { commitPlacementListSchema, commitPlacements } from "./commits.ts";

/** Response shape of GET /api/history: the CLI parses with it. */
export const historyListSchema = z.object({ items: z.array(historyEntrySchema) });

const historyQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(20),
  workload: workloadRefSchema.optional(),
});
const shaSchema = z.string().regex(/^[0-9a-f]{4,40}$/, "a commit sha or a prefix of one (4 to 40 hex digits)");
const diffQuerySchema = z.strictObject({ from: shaSchema, to: shaSchema.optional() });

/**
 * Rollout history, manifest diffs and rollbacks. A rollback is the API's only
 * write, and it ends as a Git commit (DESIGN.md, status).
 */
export function historyRoutes(store: DesiredStore, rollouts: RolloutLog | undefined, rollback: Pick<RollbackService, "diff" | "rollback"> | undefined, token: string | undefined): Hono {
  const api = new Hono();
  const needs = <T>(service: T | undefined, what: string): T => {
    if (!service) throw new NotFoundError(`${what} is not available on this control plane`);
    return service;
  };

  api.get("/history", async (c) => {
    const query = parse(historyQuerySchema, c.req.query(), "query");
    const items = await needs(rollouts, "rollout history").history({ limit: query.limit, workload: query.workload });
    return c.json(historyListSchema.parse({ items }));
  });

  api.get("/commits", async (c) => c.json(commitPlacementListSchema.parse({ items: await commitPlacements(store) })));

  api.get("/diff", async (c) => {
    const query = parse(diffQuerySchema, c.req.query(), "query");
    return c.json(await needs(rollback, "diff").diff(query.from, query.to));
  });

  api.post("/rollback", async (c) => {
    authorizeAction(bearerToken(c.req.header("authorization")), token, "rollback");
    const body: unknown = await c.req.json().catch(() => {
      throw new BadRequestError("the body must be JSON");
    });
    const request = parse(rollbackRequestSchema, body, "body");
    return c.json(await needs(rollback, "rollback").rollback(request));
  });

  return api;
}

function parse<Schema extends z.ZodType>(schema: Schema, input: unknown, where: string): z.infer<Schema> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join(".") || where}: ${issue.message}`).join("; ");
    throw new BadRequestError(`bad ${where}: ${detail}`);
  }
  return parsed.data;
}
