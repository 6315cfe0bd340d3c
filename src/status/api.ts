import { Hono } from "hono";
import { z } from "zod";
import { BadRequestError } from "../errors.ts";
import { revisionSchema, syncStateSchema, type DesiredStore } from "../desired/index.ts";
import { serviceListSchema, serviceSummaries } from "./services.ts";
import { jobListSchema, jobSummaries } from "./jobs.ts";
import { nodeSummaries, nodeSummarySchema, podListSchema, podSummaries, workloadSummaries, workloadSummarySchema } from "./workloads.ts";

/** Response shapes of the JSON API: the CLI parses with these same schemas. */
export const revisionListSchema = z.object({
  items: z.array(revisionSchema),
  /** Pass as `before` to get the next (older) page; null on the last page. */
  next: z.number().int().nullable(),
});

/** Which replica leads, as this replica sees it. */
export const leadershipSchema = z.object({
  /** `single`: the only control plane, always the leader; `replicas`: one of several sharing the database. */
  mode: z.enum(["single", "replicas"]),
  /** This replica's id. */
  replica: z.string(),
  role: z.enum(["leader", "follower"]),
  /** The replica holding a live lease, or null while none is known. `token` is the fencing token (null alone). */
  leader: z.object({ replica: z.string(), url: z.string().nullable(), token: z.number().int().nullable() }).nullable(),
  /** Writes of this replica's past terms that the lease's fence refused. */
  fencedWrites: z.number().int(),
});
export type Leadership = z.infer<typeof leadershipSchema>;

export const statusSchema = z.object({
  revision: z
    .object({ sha: z.string(), subject: z.string(), author: z.string(), state: z.string(), committedAt: z.coerce.date() })
    .nullable(),
  sync: syncStateSchema.nullable(),
  workloads: z.array(workloadSummarySchema),
  nodes: z.array(nodeSummarySchema),
  /** Defaulted so that a CLI still reads a control plane from before Jobs. */
  jobs: jobListSchema.shape.jobs.default([]),
  cronJobs: jobListSchema.shape.cronJobs.default([]),
  leadership: leadershipSchema.optional(),
});

const revisionQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(1).optional(),
});

export function apiRoutes(store: DesiredStore, leadership?: () => Leadership): Hono {
  const api = new Hono();

  api.get("/revisions", async (c) => {
    const query = parseQuery(revisionQuerySchema, c.req.query());
    const items = await store.listRevisions({ limit: query.limit + 1, before: query.before });
    const page = items.slice(0, query.limit);
    const next = items.length > query.limit ? page.at(-1)!.id : null;
    return c.json(revisionListSchema.parse({ items: page, next }));
  });

  api.get("/pods", async (c) => {
    const query = parseQuery(z.strictObject({ namespace: z.string().min(1).optional() }), c.req.query());
    return c.json(podListSchema.parse({ items: await podSummaries(store, query.namespace) }));
  });

  api.get("/services", async (c) => {
    const query = parseQuery(z.strictObject({ namespace: z.string().min(1).optional() }), c.req.query());
    return c.json(serviceListSchema.parse({ items: await serviceSummaries(store, query.namespace) }));
  });
  api.get("/jobs", async (c) => c.json(jobListSchema.parse(await jobSummaries(store))));

  api.get("/status", async (c) => {
    const [sync, workloads, nodes, jobs] = await Promise.all([store.getSyncState(), workloadSummaries(store), nodeSummaries(store), jobSummaries(store)]);
    const live = sync?.liveSha ? await store.getRevision(sync.liveSha) : null;
    return c.json(
      statusSchema.parse({
        revision: live && {
          sha: live.sha,
          subject: live.message.split("\n", 1)[0] ?? "",
          author: live.authorName,
          state: live.state,
          committedAt: live.committedAt,
        },
        sync,
        workloads,
        nodes,
        ...jobs,
        leadership: leadership?.(),
      }),
    );
  });

  return api;
}

function parseQuery<Schema extends z.ZodType>(schema: Schema, query: Record<string, string>): z.infer<Schema> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join(".") || "query"}: ${issue.message}`).join("; ");
    throw new BadRequestError(`bad query parameters: ${detail}`);
  }
  return parsed.data;
}
