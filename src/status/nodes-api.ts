import { Hono } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import { BadRequestError } from "../errors.ts";
import { parseBytes, parseCpuMillis, type DesiredStore, type NodeSpec, type PodSpec, type StoredObject } from "../desired/index.ts";
import type { LogsParams } from "../nodes/protocol.ts";

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

/** Reads logs from whichever node runs the pod (the NodeManager in the control plane). */
export interface LogSource {
  logs(params: LogsParams, onText: (container: string, text: string) => void, signal?: AbortSignal): Promise<void>;
}

const logsQuerySchema = z.strictObject({
  container: z.string().min(1).optional(),
  tailLines: z.coerce.number().int().min(0).max(100_000).optional(),
  follow: z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1").optional(),
});

export function nodeRoutes(store: DesiredStore, logSource: LogSource | undefined): Hono {
  const api = new Hono();

  api.get("/nodes", async (c) => c.json(nodeListSchema.parse({ items: await nodeListItems(store) })));

  api.get("/pods/:namespace/:name/logs", async (c) => {
    if (!logSource) throw new BadRequestError("logs are served by the control plane that runs the node links");
    const parsed = logsQuerySchema.safeParse(c.req.query());
    if (!parsed.success) {
      throw new BadRequestError(`bad query parameters: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    }
    const params: LogsParams = {
      namespace: c.req.param("namespace"),
      name: c.req.param("name"),
      container: parsed.data.container,
      tailLines: parsed.data.tailLines,
      follow: parsed.data.follow ?? false,
    };
    if (!params.follow) {
      let text = "";
      await logSource.logs(params, (_container, chunk) => (text += chunk));
      return c.text(text);
    }
    // Once streaming starts the status is sent; so a missing pod or an unconnected node is found first, with an empty tail.
    await logSource.logs({ ...params, follow: false, tailLines: 0 }, () => undefined);
    c.header("content-type", "text/plain; charset=utf-8");
    return stream(c, async (output) => {
      const abort = new AbortController();
      output.onAbort(() => abort.abort());
      await logSource.logs(params, (_container, chunk) => void output.write(chunk), abort.signal).catch(() => undefined);
    });
  });

  return api;
}

/** Every node with its readiness, capacity and what its pods request: GET /api/nodes and the page's nodes. */
export async function nodeListItems(store: DesiredStore): Promise<NodeList["items"]> {
  const [nodes, pods] = await Promise.all([store.listObjects({ kind: "Node" }), store.listObjects({ kind: "Pod" })]);
  return nodes.map((node) => nodeSummary(node, pods));
}

function nodeSummary(node: StoredObject, pods: StoredObject[]): NodeList["items"][number] {
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
