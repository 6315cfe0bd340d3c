import { z } from "zod";
import { parseBytes, parseCpuMillis, type DesiredStore, type NodeSpec, type PodSpec, type StoredObject } from "../desired/index.ts";

/** Response shape of GET /api/nodes: the CLI parses with this same schema. */
export const nodeListSchema = z.object({
  items: z.array(
    z.object({
      name: z.string(),
      transport: z.enum(["ssh", "local"]),
      address: z.string(),
      port: z.number().int(),
      labels: z.record(z.string(), z.string()),
      unschedulable: z.boolean(),
      ready: z.enum(["True", "False", "Unknown"]),
      reason: z.string().nullable(),
      message: z.string().nullable(),
      lastHeartbeatTime: z.string().nullable(),
      capacity: z.object({ cpuMillis: z.number(), memoryBytes: z.number() }).nullable(),
      allocated: z.object({ cpuMillis: z.number(), memoryBytes: z.number(), pods: z.number().int() }),
      runtimes: z.array(z.string()),
      agentVersion: z.string().nullable(),
      hostKey: z.object({ fingerprint: z.string().nullable(), pinned: z.boolean(), trustedOnFirstUse: z.boolean() }),
    }),
  ),
});
export type NodeList = z.infer<typeof nodeListSchema>;

/** Every node's line of GET /api/nodes and the nodes section, with what its running pods request. */
export async function nodeList(store: DesiredStore): Promise<NodeList> {
  const [nodes, pods] = await Promise.all([store.listObjects({ kind: "Node" }), store.listObjects({ kind: "Pod" })]);
  return { items: nodes.map((node) => nodeSummary(node, pods)) };
}

export function nodeSummary(node: StoredObject, pods: StoredObject[]): NodeList["items"][number] {
  const spec = node.spec as NodeSpec;
  const status = node.status as {
    conditions?: { type: string; status: "True" | "False" | "Unknown"; reason?: string; message?: string; lastHeartbeatTime?: string | null }[];
    capacity?: { cpuMillis: number; memoryBytes: number };
    nodeInfo?: { agentVersion?: string; runtimes?: string[] };
    hostKey?: { fingerprint?: string; trustedOnFirstUse?: boolean } | null;
  };
  const ready = status.conditions?.find((condition) => condition.type === "Ready");
  const allocated = { cpuMillis: 0, memoryBytes: 0, pods: 0 };
  for (const pod of pods) {
    const podSpec = pod.spec as PodSpec;
    if (podSpec.nodeName !== node.name) continue;
    const phase = (pod.status as { phase?: string }).phase;
    if (phase === "Succeeded" || phase === "Failed") continue;
    allocated.pods += 1;
    for (const container of podSpec.containers) {
      const requests = container.resources?.requests;
      if (requests?.cpu !== undefined) allocated.cpuMillis += parseCpuMillis(requests.cpu);
      if (requests?.memory !== undefined) allocated.memoryBytes += parseBytes(requests.memory);
    }
  }
  return {
    name: node.name,
    transport: spec.transport,
    address: spec.address,
    port: spec.port,
    labels: node.labels,
    unschedulable: spec.unschedulable,
    ready: ready?.status ?? "Unknown",
    reason: ready?.reason ?? null,
    message: ready?.message ?? null,
    lastHeartbeatTime: ready?.lastHeartbeatTime ?? null,
    capacity: status.capacity ?? null,
    allocated,
    runtimes: status.nodeInfo?.runtimes ?? [],
    agentVersion: status.nodeInfo?.agentVersion ?? null,
    hostKey: {
      fingerprint: status.hostKey?.fingerprint ?? null,
      pinned: spec.hostKey !== undefined,
      trustedOnFirstUse: status.hostKey?.trustedOnFirstUse ?? false,
    },
  };
}
