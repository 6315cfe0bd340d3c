import { z } from "zod";
import { formatProblem } from "../../errors.ts";
import { redactText, redactUrl } from "../../gitsync/index.ts";
import type { DesiredStore, HistoryEntry, Revision, RolloutLog, StoredEvent, SyncState } from "../../desired/index.ts";
import { jobSummaries, type CronJobSummary } from "../jobs.ts";
import { eventPage } from "../events.ts";
import { nodeList, type NodeList } from "../nodes.ts";
import { workloadSummaries, type WorkloadSummary } from "../workloads.ts";

/** The filter and page of the events section: `/?kind=Deployment&namespace=default&name=web&before=123`. */
export const eventQuerySchema = z.object({
  kind: z.string().trim().max(100).optional().transform((value) => value || undefined),
  namespace: z.string().trim().max(253).optional().transform((value) => value || undefined),
  name: z.string().trim().max(253).optional().transform((value) => value || undefined),
  before: z.coerce.number().int().min(1).optional(),
});
export type EventFilter = z.infer<typeof eventQuerySchema>;

export const eventsPerPage = 50;
export const revisionsShown = 20;

/** Where the Git source stands, as the header's `data-state` says it. */
export type SyncStatus =
  | { state: "in-sync" }
  | { state: "syncing"; detail: string }
  | { state: "rejected"; sha: string; subject: string; errors: string[] }
  | { state: "unreachable"; since: Date; error: string | null };

/**
 * Pure: unreachable wins (nothing newer can be known), then a rejected newest
 * commit (the previous one stays live), then a commit seen but not (fully)
 * applied yet.
 */
export function syncStatus(sync: SyncState | null, newest: Revision | null): SyncStatus {
  if (!sync) return { state: "syncing", detail: "waiting for the first fetch" };
  if (sync.unreachableSince) return { state: "unreachable", since: sync.unreachableSince, error: sync.lastError === null ? null : redactText(sync.lastError, undefined) };
  if (newest?.state === "rejected" && newest.sha !== sync.liveSha) {
    return { state: "rejected", sha: newest.sha, subject: newest.message.split("\n", 1)[0] ?? "", errors: newest.errors.map(formatProblem) };
  }
  if (newest?.state === "pending") return { state: "syncing", detail: `applying ${newest.sha.slice(0, 10)}` };
  if (sync.lastSeenSha !== sync.liveSha) return { state: "syncing", detail: sync.liveSha ? "applying the rest of the live commit" : "applying the first commit" };
  return { state: "in-sync" };
}

/** A revision row: the revision, and its rollouts' health where the rollout history knows it. */
export type RevisionRow = Revision & { health: HistoryEntry["health"] };

/** What `/` shows whatever the events filter: the part a cache may keep between changes (overview-cache.ts). */
export interface OverviewBase {
  source: { url: string; branch: string; path: string } | null;
  live: Revision | null;
  sync: SyncStatus;
  workloads: WorkloadSummary[];
  nodes: NodeList["items"];
  revisions: RevisionRow[];
  cronJobs: CronJobSummary[];
}

export interface Overview extends OverviewBase {
  events: StoredEvent[];
  /** The `before` of the next (older) page of events, or null. */
  nextEvents: number | null;
  filter: EventFilter;
}

export interface OverviewSources {
  store: DesiredStore;
  rollouts?: RolloutLog;
}

/** Everything `/` shows but the events, read in parallel. */
export async function loadOverviewBase({ store, rollouts }: OverviewSources): Promise<OverviewBase> {
  const [sync, workloads, nodes, revisions, jobs] = await Promise.all([
    store.getSyncState(),
    workloadSummaries(store),
    nodeList(store),
    recentRevisions(store, rollouts),
    jobSummaries(store),
  ]);
  const live = sync?.liveSha ? (revisions.find((revision) => revision.sha === sync.liveSha) ?? (await store.getRevision(sync.liveSha))) : null;
  return {
    source: sync && { url: redactUrl(sync.url), branch: sync.branch, path: sync.path },
    live,
    sync: syncStatus(sync, revisions[0] ?? null),
    workloads,
    nodes: nodes.items,
    revisions,
    cronJobs: jobs.cronJobs,
  };
}

/** Everything `/` shows; `base` when a cache has it. */
export async function loadOverview(sources: OverviewSources, filter: EventFilter, base?: () => Promise<OverviewBase>): Promise<Overview> {
  const [overview, events] = await Promise.all([base ? base() : loadOverviewBase(sources), eventPage(sources.store, { ...filter, limit: eventsPerPage })]);
  return { ...overview, events: events.items, nextEvents: events.next, filter };
}

async function recentRevisions(store: DesiredStore, rollouts: RolloutLog | undefined): Promise<RevisionRow[]> {
  if (rollouts) return (await rollouts.history({ limit: revisionsShown })).map(({ changes: _changes, rollouts: _rollouts, ...revision }) => revision);
  return (await store.listRevisions({ limit: revisionsShown })).map((revision) => ({ ...revision, health: null }));
}
