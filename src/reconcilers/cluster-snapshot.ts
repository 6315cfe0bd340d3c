import type { NodeSpec, PodSpec, StoredObject } from "../desired/index.ts";
import type { RuntimeName } from "../nodes/index.ts";
import { assumePod, newNodeInfo, nodeAllocatable, type NodeInfo, type PodToSchedule } from "../scheduler/index.ts";

/**
 * The scheduler's picture of the cluster, built from the store: every Node
 * with the pods bound to it. Like kube-scheduler's cache, a decision is booked
 * into the picture at once (assume) so the next pod sees it without a re-read.
 */
export interface ClusterSnapshot {
  nodes: NodeInfo[];
  byName: Map<string, NodeInfo>;
  builtAt: number;
}

export function buildSnapshot(nodes: StoredObject[], pods: StoredObject[], now: number): ClusterSnapshot {
  const bound = new Map<string, PodToSchedule[]>();
  for (const pod of pods) {
    const spec = pod.spec as PodSpec;
    if (!spec.nodeName || isFinished(pod)) continue;
    bound.set(spec.nodeName, [...(bound.get(spec.nodeName) ?? []), toSchedulable(pod)]);
  }
  const infos = nodes.map((node) => {
    const spec = node.spec as NodeSpec;
    const status = node.status as {
      conditions?: { type: string; status: string }[];
      capacity?: { cpuMillis: number; memoryBytes: number };
      nodeInfo?: { runtimes?: RuntimeName[] };
    };
    return newNodeInfo(
      {
        name: node.name,
        labels: node.labels,
        taints: spec.taints ?? [],
        unschedulable: spec.unschedulable,
        ready: status.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false,
        runtimes: status.nodeInfo?.runtimes ?? [],
        allocatable: nodeAllocatable(spec.capacity, status.capacity),
      },
      bound.get(node.name) ?? [],
    );
  });
  return { nodes: infos, byName: new Map(infos.map((info) => [info.name, info])), builtAt: now };
}

/** Books a binding into the snapshot, as if the store had been re-read. */
export function assumeBound(snapshot: ClusterSnapshot, node: string, pod: StoredObject): void {
  const info = snapshot.byName.get(node);
  if (info) assumePod(info, toSchedulable(pod));
}

export function toSchedulable(pod: StoredObject): PodToSchedule {
  return {
    namespace: pod.namespace,
    name: pod.name,
    labels: pod.labels,
    ...(pod.ownerUid ? { ownerUid: pod.ownerUid } : {}),
    spec: pod.spec as PodSpec,
  };
}

export function isFinished(pod: StoredObject): boolean {
  const phase = (pod.status as { phase?: string }).phase;
  return phase === "Succeeded" || phase === "Failed";
}
