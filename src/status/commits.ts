import { z } from "zod";
import type { DesiredStore } from "../desired/index.ts";
import { podSummaries } from "./workloads.ts";

/**
 * "Which commit runs where" in one answer: the pods (and their nodes) still
 * running each commit's template. A rollout half done shows two commits.
 */
export const commitPlacementSchema = z.object({
  commit: z.string().nullable(),
  subject: z.string().nullable(),
  pods: z.array(z.object({ namespace: z.string(), name: z.string(), node: z.string().nullable(), ready: z.boolean() })),
  nodes: z.array(z.string()),
});
export const commitPlacementListSchema = z.object({ items: z.array(commitPlacementSchema) });
export type CommitPlacement = z.infer<typeof commitPlacementSchema>;

/** Newest commit first (by when capstan saw it); pods whose commit is unknown last. */
export async function commitPlacements(store: DesiredStore): Promise<CommitPlacement[]> {
  const pods = await podSummaries(store);
  const byCommit = new Map<string | null, typeof pods>();
  for (const pod of pods) byCommit.set(pod.commit, [...(byCommit.get(pod.commit) ?? []), pod]);
  const placements = await Promise.all(
    [...byCommit].map(async ([commit, group]) => {
      const revision = commit ? await store.getRevision(commit) : null;
      return {
        order: revision?.id ?? -1,
        placement: {
          commit,
          subject: revision ? (revision.message.split("\n", 1)[0] ?? "") : null,
          pods: group.map((pod) => ({ namespace: pod.namespace, name: pod.name, node: pod.node, ready: pod.ready })),
          nodes: [...new Set(group.flatMap((pod) => (pod.node ? [pod.node] : [])))].sort(),
        },
      };
    }),
  );
  return placements.sort((a, b) => b.order - a.order).map((entry) => entry.placement);
}
