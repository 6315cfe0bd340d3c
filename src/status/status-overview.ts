import { z } from "zod";
import { syncStateSchema, type DesiredStore } from "../desired/index.ts";
import { jobListSchema, jobSummaries } from "./jobs.ts";
import { nodeSummaries, nodeSummarySchema, workloadSummaries, workloadSummarySchema } from "./workloads.ts";

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

export type StatusOverview = z.infer<typeof statusSchema>;

/** What GET /api/status answers and `capstan status` prints: the live commit, the sync state and one line per workload, node and job. */
export async function statusOverview(store: DesiredStore, leadership?: () => Leadership): Promise<StatusOverview> {
  const [sync, workloads, nodes, jobs] = await Promise.all([store.getSyncState(), workloadSummaries(store), nodeSummaries(store), jobSummaries(store)]);
  const live = sync?.liveSha ? await store.getRevision(sync.liveSha) : null;
  return {
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
  };
}
