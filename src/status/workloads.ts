import { z } from "zod";
import type { DesiredStore, StoredObject } from "../desired/index.ts";

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
});
export type WorkloadSummary = z.infer<typeof workloadSummarySchema>;

export const nodeSummarySchema = z.object({
  name: z.string(),
  address: z.string(),
  ready: z.enum(["True", "False", "Unknown"]),
  pods: z.number().int(),
});

const workloadKinds = ["Deployment"] as const;

export async function workloadSummaries(store: DesiredStore): Promise<WorkloadSummary[]> {
  const lists = await Promise.all(workloadKinds.map((kind) => store.listObjects({ kind })));
  return lists.flat().map(summarise);
}

function summarise(object: StoredObject): WorkloadSummary {
  const spec = object.spec as { replicas?: number; paused?: boolean };
  const status = object.status as {
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    health?: string;
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
  const desired = spec.replicas ?? 1;
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
  };
}

export async function nodeSummaries(store: DesiredStore): Promise<z.infer<typeof nodeSummarySchema>[]> {
  const [nodes, pods] = await Promise.all([store.listObjects({ kind: "Node" }), store.listObjects({ kind: "Pod" })]);
  return nodes.map((node) => ({
    name: node.name,
    address: (node.spec as { address: string }).address,
    ready: ((node.status as { conditions?: { type: string; status: "True" | "False" | "Unknown" }[] }).conditions?.find((condition) => condition.type === "Ready")?.status ??
      "Unknown") as "True" | "False" | "Unknown",
    pods: pods.filter((pod) => (pod.spec as { nodeName?: string }).nodeName === node.name).length,
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
export const podListSchema = z.object({ items: z.array(podSummarySchema) });

export async function podSummaries(store: DesiredStore, namespace?: string): Promise<z.infer<typeof podSummarySchema>[]> {
  const pods = await store.listObjects({ kind: "Pod", ...(namespace ? { namespace } : {}) });
  return pods.map((pod) => {
    const status = pod.status as StoredPodStatusView;
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
  });
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
