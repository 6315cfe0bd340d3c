import { Hono } from "hono";
import { z } from "zod";
import type { DesiredStore, RolloutLog } from "../desired/index.ts";
import { parseQuery } from "./request-input.ts";
import { workloadDetail, workloadDetailSchema, workloadListSchema } from "./workload-detail.ts";
import { workloadKinds, workloadSummaries } from "./workloads.ts";

const workloadQuerySchema = z.strictObject({
  kind: z.enum(workloadKinds).optional(),
  namespace: z.string().min(1).optional(),
});

/** GET /api/workloads (the workloads section's lines) and GET /api/workloads/:kind/:namespace/:name (one workload's detail). */
export function workloadRoutes(store: DesiredStore, rollouts: RolloutLog | undefined): Hono {
  const api = new Hono();

  api.get("/workloads", async (c) => {
    const query = parseQuery(workloadQuerySchema, c.req.query());
    return c.json(workloadListSchema.parse({ items: await workloadSummaries(store, query) }));
  });

  api.get("/workloads/:kind/:namespace/:name", async (c) => {
    parseQuery(z.strictObject({}), c.req.query());
    const key = { kind: c.req.param("kind"), namespace: c.req.param("namespace"), name: c.req.param("name") };
    return c.json(workloadDetailSchema.parse(await workloadDetail(store, rollouts, key)));
  });

  return api;
}
