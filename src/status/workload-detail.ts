import { z } from "zod";
import { NotFoundError } from "../errors.ts";
import { rolloutSchema, storedEventSchema, type DesiredStore, type RolloutLog, type StoredObject } from "../desired/index.ts";
import { conditionSchema, conditionsOf, podDetail, podDetailSchema } from "./pod-detail.ts";
import { recentEventsOf } from "./events.ts";
import { workloadKinds, workloadSummary, workloadSummarySchema, type WorkloadKind } from "./workloads.ts";

/** Response shape of GET /api/workloads. */
export const workloadListSchema = z.object({ items: z.array(workloadSummarySchema) });

/** A rollout of the workload, with the commit that started it. */
export const workloadRolloutSchema = rolloutSchema.extend({
  /** The first line of the commit message. */
  subject: z.string(),
  authorName: z.string(),
});

/** Response shape of GET /api/workloads/:kind/:namespace/:name: everything its detail page shows. */
export const workloadDetailSchema = z.object({
  workload: workloadSummarySchema,
  /** Where Git declares it (null for a workload no commit declares). */
  source: z.object({ revisionSha: z.string().nullable(), file: z.string().nullable(), line: z.number().int().nullable() }),
  conditions: z.array(conditionSchema),
  /** Its pods (for a Deployment, those of all its ReplicaSets), by name. */
  pods: z.array(podDetailSchema),
  /** Events about it, its ReplicaSets and its pods, newest first (at most 20). */
  events: z.array(storedEventSchema),
  /** Its rollouts, newest first (at most 20); empty where this control plane keeps no rollout history. */
  rollouts: z.array(workloadRolloutSchema),
});
export type WorkloadDetail = z.infer<typeof workloadDetailSchema>;

export interface WorkloadKey {
  kind: string;
  namespace: string;
  name: string;
}

const isWorkloadKind = (kind: string): kind is WorkloadKind => (workloadKinds as readonly string[]).includes(kind);

/**
 * One workload, as its detail page and GET /api/workloads/:kind/:namespace/:name
 * show it. Throws NotFoundError (404) for a kind that is not a workload or a
 * workload that does not exist.
 */
export async function workloadDetail(store: DesiredStore, rollouts: RolloutLog | undefined, key: WorkloadKey): Promise<WorkloadDetail> {
  if (!isWorkloadKind(key.kind)) throw new NotFoundError(`${key.kind} is not a workload kind (${workloadKinds.join(", ")})`);
  const object = await store.getObject(key);
  if (!object) throw new NotFoundError(`no ${key.kind} ${key.namespace}/${key.name}`);
  const [autoscalers, { replicaSets, pods }, history] = await Promise.all([
    store.listObjects({ kind: "HorizontalPodAutoscaler", namespace: key.namespace }),
    ownedPods(store, object),
    rollouts ? rollouts.history({ workload: key, limit: 20 }) : Promise.resolve([]),
  ]);
  const events = await recentEventsOf(store, [object, ...replicaSets, ...pods]);
  return {
    workload: workloadSummary(object, autoscalers),
    source: { revisionSha: object.revisionSha, file: object.sourceFile, line: object.sourceLine },
    conditions: conditionsOf(object),
    pods: pods.map(podDetail),
    events,
    rollouts: history.flatMap((entry) =>
      entry.rollouts.map((rollout) => ({ ...rollout, subject: entry.message.split("\n", 1)[0] ?? "", authorName: entry.authorName })),
    ),
  };
}

/** A Deployment owns ReplicaSets that own its pods; a DaemonSet or StatefulSet owns its pods itself. */
async function ownedPods(store: DesiredStore, object: StoredObject): Promise<{ replicaSets: StoredObject[]; pods: StoredObject[] }> {
  const { namespace } = object;
  if (object.kind !== "Deployment") return { replicaSets: [], pods: await store.listObjects({ kind: "Pod", namespace, ownerUid: object.uid }) };
  const replicaSets = await store.listObjects({ kind: "ReplicaSet", namespace, ownerUid: object.uid });
  const pods = (await Promise.all(replicaSets.map((rs) => store.listObjects({ kind: "Pod", namespace, ownerUid: rs.uid })))).flat();
  return { replicaSets, pods: pods.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}
