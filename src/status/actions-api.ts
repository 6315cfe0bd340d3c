import { Hono } from "hono";
import { z } from "zod";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { rollbackRequestSchema, rollbackResultSchema, type RollbackService } from "../gitsync/index.ts";
import { authorizeAction, bearerToken } from "./auth.ts";
import { parseInput, parseQuery } from "./request-input.ts";

/** Response shape of POST /api/sync: the fetch was asked for; its outcome shows in the sync state. */
export const syncAcceptedSchema = z.object({ accepted: z.literal(true) });

export interface ActionServices {
  rollback?: Pick<RollbackService, "diff" | "rollback">;
  syncNow?: () => void;
  /** CAPSTAN_TOKEN; unset → every action is refused (403, actions disabled). */
  token?: string;
}

/**
 * The API's two writes, each behind the one token check (auth.ts) before
 * anything else, and each ending outside the store (DESIGN.md, status): a
 * rollback as a Git commit, "sync now" as a fetch by the leader's sync.
 */
export function actionRoutes(services: ActionServices): Hono {
  const api = new Hono();
  const authorize = (header: string | undefined, what: string) => authorizeAction(bearerToken(header), services.token, what);

  api.post("/sync", (c) => {
    authorize(c.req.header("authorization"), "sync now");
    parseQuery(z.strictObject({}), c.req.query());
    if (!services.syncNow) throw new NotFoundError("sync now is not available on this control plane");
    services.syncNow();
    return c.json(syncAcceptedSchema.parse({ accepted: true }), 202);
  });

  api.post("/rollback", async (c) => {
    authorize(c.req.header("authorization"), "rollback");
    const body: unknown = await c.req.json().catch(() => {
      throw new BadRequestError("the body must be JSON");
    });
    const request = parseInput(rollbackRequestSchema, body, "body");
    if (!services.rollback) throw new NotFoundError("rollback is not available on this control plane");
    return c.json(rollbackResultSchema.parse(await services.rollback.rollback(request)));
  });

  return api;
}
