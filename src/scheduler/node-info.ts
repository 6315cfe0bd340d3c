import { parseBytes, parseCpuMillis, type NodeSpec } from "../desired/index.ts";
import type { NodeFacts, NodeInfo, PodToSchedule, Resources } from "./model.ts";
import { podDemand } from "./requests.ts";

/** Kubernetes' default pod limit per node (kubelet --max-pods). */
export const defaultMaxPods = 110;

/** What the scheduler may hand out on a node: `spec.capacity` where set, else what its agent reported (nothing when it never did). */
export function nodeAllocatable(capacity: NodeSpec["capacity"], reported: { cpuMillis: number; memoryBytes: number } | undefined): Resources {
  return {
    cpuMillis: capacity?.cpu !== undefined ? parseCpuMillis(capacity.cpu) : (reported?.cpuMillis ?? 0),
    memoryBytes: capacity?.memory !== undefined ? parseBytes(capacity.memory) : (reported?.memoryBytes ?? 0),
    pods: defaultMaxPods,
  };
}

/** A node with the pods already bound to it booked in. */
export function newNodeInfo(facts: NodeFacts, boundPods: readonly PodToSchedule[] = []): NodeInfo {
  // Every property spelled out, in one order: nodes built from differently made facts share one hidden class,
  // which keeps the per-node filter and scorer calls monomorphic (a spread here made the whole bench several times slower).
  const node: NodeInfo = {
    name: facts.name,
    labels: facts.labels,
    taints: facts.taints,
    unschedulable: facts.unschedulable,
    ready: facts.ready,
    runtimes: facts.runtimes,
    allocatable: { cpuMillis: facts.allocatable.cpuMillis, memoryBytes: facts.allocatable.memoryBytes, pods: facts.allocatable.pods },
    requested: { cpuMillis: 0, memoryBytes: 0, pods: 0 },
    scoringRequested: { cpuMillis: 0, memoryBytes: 0 },
    pods: [],
    podsPerOwner: new Map(),
  };
  for (const pod of boundPods) assumePod(node, pod);
  return node;
}

/**
 * Books a pod onto a node in the scheduler's picture (kube-scheduler calls
 * this "assume"): its requests are added and it joins the node's pods, so the
 * next decision in the same pass sees it before the store does.
 */
export function assumePod(node: NodeInfo, pod: PodToSchedule): void {
  const { requests, scoringRequests: scoring, hostPorts } = podDemand(pod.spec);
  node.requested.cpuMillis += requests.cpuMillis;
  node.requested.memoryBytes += requests.memoryBytes;
  node.requested.pods += 1;
  node.scoringRequested.cpuMillis += scoring.cpuMillis;
  node.scoringRequested.memoryBytes += scoring.memoryBytes;
  if (pod.ownerUid !== undefined) node.podsPerOwner.set(pod.ownerUid, (node.podsPerOwner.get(pod.ownerUid) ?? 0) + 1);
  // One shape for every summary, so the loops over a node's pods stay monomorphic.
  node.pods.push({
    namespace: pod.namespace,
    name: pod.name,
    labels: pod.labels,
    ownerUid: pod.ownerUid,
    hostPorts: hostPorts.length > 0 ? hostPorts : undefined,
  });
}
