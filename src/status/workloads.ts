import { z } from "zod";
import type { DesiredStore, StoredObject } from "../desired/index.ts";
import { autoscalersAmong, decidedReplicas } from "../reconcilers/index.ts";

/**
 * One line per workload for `capstan status` and GET /api/status: desired
 * versus ready, and how its rollout stands. Read from the statuses the
 * controllers write; a workload no controller has looked at yet is "pending".
 */
export const workloadSummarySchema = z.object({
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  desired: z.number().int(),
  ready: z.number().int(),
  updated: z.number().int(),
  available: z.number().int(),
  /** pending (not yet reconciled), progressing, complete, paused, or failed: <reason>. */
  rollout: z.string(),
  health: z.string(),
  /** The HorizontalPodAutoscaler sizing it, if one does: `desired` is then its count and Git's `replicas` is ignored. */
  autoscaledBy: z.string().optional(),
  /** Git's replicas, shown beside the autoscaler's count while it is ignored. */
  gitReplicas: z.number().int().optional(),
});
export type WorkloadSummary = z.infer<typeof workloadSummarySchema>;

export const nodeSummarySchema = z.object({
  name: z.string(),
  address: z.string(),
  ready: z.enum(["True", "False", "Unknown"]),
  pods: z.number().int(),
});

/** The kinds the workloads section and GET /api/workloads list: those with rollouts. */
export const workloadKinds = ["Deployment", "DaemonSet", "StatefulSet"] as const;
export type WorkloadKind = (typeof workloadKinds)[number];

/** Every workload's line, ordered by kind then namespace and name; `filter` narrows to one kind and/or namespace. */
export async function workloadSummaries(store: DesiredStore, filter: { kind?: WorkloadKind; namespace?: string } = {}): Promise<WorkloadSummary[]> {
  const kinds = filter.kind ? [filter.kind] : workloadKinds;
  const namespace = filter.namespace !== undefined ? { namespace: filter.namespace } : {};
  const [autoscalers, ...lists] = await Promise.all([
    store.listObjects({ kind: "HorizontalPodAutoscaler", ...namespace }),
    ...kinds.map((kind) => store.listObjects({ kind, ...namespace })),
  ]);
  return lists.flat().map((object) => workloadSummary(object, autoscalers));
}

/** One workload's line; `autoscalers` are the HorizontalPodAutoscalers that may size it. */
export function workloadSummary(object: StoredObject, autoscalers: StoredObject[]): WorkloadSummary {
  return object.kind === "DaemonSet" ? summariseDaemonSet(object) : object.kind === "StatefulSet" ? summariseStatefulSet(object, autoscalers) : summarise(object, autoscalers);
}

/**
 * How many replicas a Deployment or StatefulSet is meant to run: the
 * autoscaler's decision while one targets it (with Git's ignored count shown
 * beside), else Git's. Before the autoscaler's first decision its target
 * still runs Git's count.
 */
function replicasToRun(object: StoredObject, autoscalers: StoredObject[]): { desired: number; autoscaled: Pick<WorkloadSummary, "autoscaledBy" | "gitReplicas"> } {
  const gitReplicas = (object.spec as { replicas?: number }).replicas ?? 1;
  const autoscaler = autoscalersAmong(autoscalers, object)[0];
  return {
    desired: decidedReplicas(autoscaler, object) ?? gitReplicas,
    autoscaled: autoscaler ? { autoscaledBy: autoscaler.name, gitReplicas } : {},
  };
}

function summarise(object: StoredObject, autoscalers: StoredObject[]): WorkloadSummary {
  const spec = object.spec as { paused?: boolean };
  const { desired, autoscaled } = replicasToRun(object, autoscalers);
  const status = object.status as {
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    health?: string;
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
  const progressing = status.conditions?.find((condition) => condition.type === "Progressing");
  let rollout: string;
  if (object.observedGeneration < object.generation || !progressing) rollout = "pending";
  else if (progressing.status === "False") rollout = `failed: ${progressing.reason ?? "unknown"}`;
  else if (spec.paused) rollout = "paused";
  else if (progressing.reason === "NewReplicaSetAvailable" && (status.updatedReplicas ?? 0) === desired && (status.availableReplicas ?? 0) >= desired) rollout = "complete";
  else rollout = "progressing";
  return {
    kind: object.kind,
    namespace: object.namespace,
    name: object.name,
    desired,
    ready: status.readyReplicas ?? 0,
    updated: status.updatedReplicas ?? 0,
    available: status.availableReplicas ?? 0,
    rollout,
    health: status.health ?? "Unknown",
    ...autoscaled,
  };
}

/**
 * A DaemonSet's line: desired is the number of nodes that should run it (it
 * has no replicas). "waiting: OnDelete" is an OnDelete rollout whose pods all
 * run but some on an older template, until someone deletes them.
 */
function summariseDaemonSet(object: StoredObject): WorkloadSummary {
  const status = object.status as {
    desiredNumberScheduled?: number;
    numberReady?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    health?: string;
    conditions?: { type: string; status: string; reason?: string }[];
  };
  const progressing = status.conditions?.find((condition) => condition.type === "Progressing");
  let rollout: string;
  if (object.observedGeneration < object.generation || !progressing) rollout = "pending";
  else if (progressing.reason === "NewPodsAvailable") rollout = "complete";
  else if (progressing.reason === "WaitingForPodDeletion") rollout = "waiting: OnDelete";
  else rollout = "progressing";
  return {
    kind: object.kind,
    namespace: object.namespace,
    name: object.name,
    desired: status.desiredNumberScheduled ?? 0,
    ready: status.numberReady ?? 0,
    updated: status.updatedNumberScheduled ?? 0,
    available: status.numberAvailable ?? 0,
    rollout,
    health: status.health ?? "Unknown",
  };
}

/**
 * A StatefulSet's line. Its rollout is complete once the update revision is
 * the current one; "partitioned at N" is a RollingUpdate staged by its
 * partition with every ordinal from N up updated; "waiting: OnDelete" an
 * OnDelete set whose pods are not all on the new template yet.
 */
function summariseStatefulSet(object: StoredObject, autoscalers: StoredObject[]): WorkloadSummary {
  const spec = object.spec as { updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } } };
  const { desired, autoscaled } = replicasToRun(object, autoscalers);
  const status = object.status as {
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    health?: string;
  };
  const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  const updated = status.updatedReplicas ?? 0;
  let rollout: string;
  if (object.observedGeneration < object.generation || !status.updateRevision) rollout = "pending";
  else if (status.currentRevision === status.updateRevision && (status.readyReplicas ?? 0) >= desired) rollout = "complete";
  else if (spec.updateStrategy?.type === "OnDelete") rollout = "waiting: OnDelete";
  else if (partition > 0 && updated >= Math.max(0, desired - partition) && status.health === "Healthy") rollout = `partitioned at ${partition}`;
  else rollout = "progressing";
  return {
    kind: object.kind,
    namespace: object.namespace,
    name: object.name,
    desired,
    ready: status.readyReplicas ?? 0,
    updated,
    available: status.availableReplicas ?? 0,
    rollout,
    health: status.health ?? "Unknown",
    ...autoscaled,
  };
}

export async function nodeSummaries(store: DesiredStore): Promise<z.infer<typeof nodeSummarySchema>[]> {
  const [nodes, pods] = await Promise.all([store.listObjects({ kind: "Node" }), store.listObjects({ kind: "Pod" })]);
  return nodes.map((node) => ({
    name: node.name,
    address: (node.spec as { address: string }).address,
    ready: ((node.status as { conditions?: { type: string; status: "True" | "False" | "Unknown" }[] }).conditions?.find((condition) => condition.type === "Ready")?.status ??
      "Unknown") as "True" | "False" | "Unknown",
    // Pods that still run there (like `kubectl describe node`'s non-terminated pods): a finished Job pod is kept but holds nothing.
    pods: pods.filter((pod) => (pod.spec as { nodeName?: string }).nodeName === node.name && !finished(pod)).length,
  }));
}

export const podSummarySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  node: z.string().nullable(),
  phase: z.string(),
  /** Why the pod is not simply running, as kubectl's STATUS column tells it: the pod's reason, else a container's waiting or terminated reason. */
  reason: z.string().nullable(),
  ready: z.boolean(),
  restarts: z.number().int(),
  /** The commit whose template the pod runs. */
  commit: z.string().nullable(),
  createdAt: z.coerce.date(),
});
export type PodSummary = z.infer<typeof podSummarySchema>;
export const podListSchema = z.object({ items: z.array(podSummarySchema) });

export async function podSummaries(store: DesiredStore, namespace?: string): Promise<PodSummary[]> {
  const pods = await store.listObjects({ kind: "Pod", ...(namespace ? { namespace } : {}) });
  return pods.map(podSummary);
}

export function podSummary(pod: StoredObject): PodSummary {
  const status = podStatusView(pod.status);
  return {
    namespace: pod.namespace,
    name: pod.name,
    node: (pod.spec as { nodeName?: string }).nodeName ?? null,
    phase: status.phase ?? "Pending",
    reason: podReason(status),
    ready: status.ready ?? false,
    restarts: (status.containerStatuses ?? []).reduce((sum, container) => sum + (container.restartCount ?? 0), 0),
    commit: pod.annotations["capstan.dev/commit"] ?? pod.revisionSha ?? null,
    createdAt: pod.createdAt,
  };
}

interface ContainerStatusView {
  restartCount?: number;
  state?: { waiting?: { reason?: string }; terminated?: { reason?: string } };
}

interface StoredPodStatusView {
  phase?: string;
  ready?: boolean;
  reason?: string | null;
  initContainerStatuses?: ContainerStatusView[];
  containerStatuses?: ContainerStatusView[];
}

/** The stored status as read here; container lists that are not lists (a hand-edited or foreign row) count as none rather than failing the listing. */
function podStatusView(status: Record<string, unknown>): StoredPodStatusView {
  const view = status as StoredPodStatusView;
  return {
    ...view,
    initContainerStatuses: Array.isArray(view.initContainerStatuses) ? view.initContainerStatuses : [],
    containerStatuses: Array.isArray(view.containerStatuses) ? view.containerStatuses : [],
  };
}

function podReason(status: StoredPodStatusView): string | null {
  if (status.reason) return status.reason;
  for (const container of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
    const waiting = container.state?.waiting?.reason;
    if (waiting && waiting !== "ContainerCreating" && waiting !== "PodInitializing") return waiting;
  }
  if (status.phase === "Failed" || status.phase === "Succeeded") {
    return (status.containerStatuses ?? []).map((container) => container.state?.terminated?.reason).find(Boolean) ?? null;
  }
  return null;
}

function finished(pod: StoredObject): boolean {
  const phase = (pod.status as { phase?: string }).phase;
  return phase === "Succeeded" || phase === "Failed";
}
