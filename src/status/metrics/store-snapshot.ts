import type { DesiredStore, Revision, StoredObject, SyncState } from "../../desired/index.ts";
import { workloadSummaries } from "../workloads.ts";

/** What the store-derived gauges show, read once per scrape: every replica, leader or not, reports the same. */
export interface StoreSnapshot {
  podsByPhase: Map<string, number>;
  nodes: { name: string; ready: boolean }[];
  /** Workloads counted by kind and health word. */
  workloads: { kind: string; health: string; count: number }[];
  sync: {
    /** 1 while the last fetch answered, 0 after a failed one; absent before the first fetch. */
    up?: number;
    lastSuccessSeconds?: number;
    /** Now − commit time of the newest seen commit that is not live; 0 in sync. */
    lagSeconds: number;
    /** Commits seen after the live one was (rejected, superseded or still applying). */
    behind: number;
  };
}

/** How many of the newest revisions are looked at for the lag; more than that behind is reported as that many. */
const revisionWindow = 50;

export async function readStoreSnapshot(store: DesiredStore, now: Date): Promise<StoreSnapshot> {
  const [pods, nodes, workloads, sync, revisions] = await Promise.all([
    store.listObjects({ kind: "Pod" }),
    store.listObjects({ kind: "Node" }),
    workloadSummaries(store),
    store.getSyncState(),
    store.listRevisions({ limit: revisionWindow }),
  ]);
  const podsByPhase = new Map<string, number>();
  for (const pod of pods) {
    const phase = (pod.status as { phase?: string }).phase ?? "Pending";
    podsByPhase.set(phase, (podsByPhase.get(phase) ?? 0) + 1);
  }
  const byHealth = new Map<string, { kind: string; health: string; count: number }>();
  for (const { kind, health } of workloads) {
    const entry = byHealth.get(`${kind}/${health}`) ?? { kind, health, count: 0 };
    entry.count += 1;
    byHealth.set(`${kind}/${health}`, entry);
  }
  return {
    podsByPhase,
    nodes: nodes.map((node) => ({ name: node.name, ready: nodeReady(node) })),
    workloads: [...byHealth.values()],
    sync: await syncFigures(store, sync, revisions, now),
  };
}

function nodeReady(node: StoredObject): boolean {
  const conditions = (node.status as { conditions?: { type?: string; status?: string }[] }).conditions ?? [];
  return conditions.some((condition) => condition.type === "Ready" && condition.status === "True");
}

/**
 * Not live: seen after the live revision was (last) seen. Not "above it in
 * the list": a force-push back to an older commit makes that commit live
 * again under its old id, and the commits between are then history, not lag.
 */
async function syncFigures(store: DesiredStore, sync: SyncState | null, revisions: Revision[], now: Date): Promise<StoreSnapshot["sync"]> {
  const liveSha = sync?.liveSha ?? null;
  const live = liveSha ? (revisions.find((revision) => revision.sha === liveSha) ?? (await store.getRevision(liveSha))) : null;
  const notLive = revisions.filter((revision) => revision.sha !== liveSha && (!live || revision.seenAt > live.seenAt));
  const newest = notLive.reduce<Revision | undefined>((found, revision) => (!found || revision.seenAt > found.seenAt ? revision : found), undefined);
  return {
    up: sync?.lastFetchAt ? (sync.lastError === null ? 1 : 0) : undefined,
    lastSuccessSeconds: sync?.lastSuccessAt ? sync.lastSuccessAt.getTime() / 1000 : undefined,
    lagSeconds: newest ? Math.max(0, (now.getTime() - newest.committedAt.getTime()) / 1000) : 0,
    behind: notLive.length,
  };
}
