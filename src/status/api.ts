import { Hono } from "hono";
import { z } from "zod";
import type { DesiredStore } from "../desired/index.ts";
import { parseQuery } from "./request-input.ts";
import { serviceListSchema, serviceSummaries } from "./services.ts";
import { jobListSchema, jobSummaries } from "./jobs.ts";
import { statusOverview, statusSchema, type Leadership } from "./status-overview.ts";
import { podListSchema, podSummaries } from "./workloads.ts";

const noParameters = z.strictObject({});

/** The overview endpoints: status (what `capstan status` and the page's header read), pods, services and jobs. */
export function apiRoutes(store: DesiredStore, leadership?: () => Leadership): Hono {
  const api = new Hono();

  api.get("/pods", async (c) => {
    const query = parseQuery(z.strictObject({ namespace: z.string().min(1).optional() }), c.req.query());
    return c.json(podListSchema.parse({ items: await podSummaries(store, query.namespace) }));
  });

  api.get("/services", async (c) => {
    const query = parseQuery(z.strictObject({ namespace: z.string().min(1).optional() }), c.req.query());
    return c.json(serviceListSchema.parse({ items: await serviceSummaries(store, query.namespace) }));
  });
  api.get("/jobs", async (c) => {
    parseQuery(noParameters, c.req.query());
    return c.json(jobListSchema.parse(await jobSummaries(store)));
  });

  api.get("/status", async (c) => {
    parseQuery(noParameters, c.req.query());
    return c.json(statusSchema.parse(await statusOverview(store, leadership)));
  });

  return api;
}
