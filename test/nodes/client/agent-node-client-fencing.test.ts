import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/clock.ts";
import { silentLogger } from "../../../src/logging.ts";
import { AgentNodeClient, type AgentTransport } from "../../../src/nodes/client/index.ts";
import { PROTOCOL_VERSION, type AgentPodInput, type PodStatus } from "../../../src/nodes/protocol.ts";
import { eventually } from "../../helpers/eventually.ts";

/**
 * Fencing on reconnect: a node back from a partition still runs pods that
 * were evicted (and replaced elsewhere) while it was away. The returning link
 * must stop those, and see them gone, before it sends the node anything else:
 * no new pod, no Service route. Against a scripted agent that takes a while
 * to stop a pod, as a preStop hook and a grace period do.
 */

let dir: string | undefined;
let server: Server | undefined;
let client: AgentNodeClient | undefined;

/** The scripted agent's connections and its pending "pod stopped" timers, ended after each test. */
const agentSockets = new Set<Socket>();
const agentTimers = new Set<NodeJS.Timeout>();

afterEach(async () => {
  await client?.close();
  for (const timer of agentTimers) clearTimeout(timer);
  agentTimers.clear();
  for (const socket of agentSockets) socket.destroy();
  agentSockets.clear();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
  client = undefined;
  server = undefined;
  dir = undefined;
});

function status(uid: string): PodStatus {
  return { uid, namespace: "default", name: `pod-${uid}`, phase: "Running", ready: true, initContainerStatuses: [], containerStatuses: [] };
}

function pod(uid: string): AgentPodInput {
  return { uid, namespace: "default", name: `pod-${uid}`, spec: { containers: [{ name: "main", command: ["true"] }] } } as AgentPodInput;
}

type Sent = { at: number; method: string; uids?: string[] };

/** Runs the uids in `running`; a pod left out of a syncPods set is reported removed `stopMs` later. Records every request. */
async function startScriptedAgent(running: Set<string>, stopMs: number): Promise<{ path: string; sent: Sent[]; removedAt: Map<string, number>; sockets: Set<Socket> }> {
  dir = await mkdtemp(join(tmpdir(), "capstan-fencing-agent-"));
  const path = join(dir, "agent.sock");
  const sent: Sent[] = [];
  const removedAt = new Map<string, number>();
  const sockets = new Set<Socket>();
  server = createServer((socket) => {
    sockets.add(socket);
    agentSockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    createInterface({ input: socket }).on("line", (line) => {
      const { id, method, params } = JSON.parse(line) as { id: number; method: string; params: { generation?: number; pods?: { uid: string }[] } };
      sent.push({ at: performance.now(), method, ...(params.pods ? { uids: params.pods.map((one) => one.uid) } : {}) });
      const answer = (body: object) => socket.write(`${JSON.stringify({ id, ...body })}\n`);
      if (method === "hello") {
        answer({
          result: { protocolVersion: PROTOCOL_VERSION, agentVersion: "scripted", hostname: "n", bootId: "boot", capacity: { cpuMillis: 1000, memoryBytes: 1e9 }, runtimes: ["process"], generation: 0, stateDir: "/nowhere" },
        });
      } else if (method === "statuses") answer({ result: { pods: [...running].map(status) } });
      else if (method === "ping") answer({ result: {} });
      else if (method === "syncServices") answer({ result: { generation: params.generation, listenErrors: [] } });
      else if (method === "syncPods") {
        const wanted = new Set(params.pods!.map((one) => one.uid));
        for (const uid of [...running].filter((candidate) => !wanted.has(candidate))) {
          const timer = setTimeout(() => {
            agentTimers.delete(timer);
            running.delete(uid);
            removedAt.set(uid, performance.now());
            if (!socket.destroyed) socket.write(`${JSON.stringify({ event: "podStatus", generation: params.generation, pods: [], removed: [uid] })}\n`);
          }, stopMs);
          agentTimers.add(timer);
        }
        for (const uid of wanted) running.add(uid);
        answer({ result: { generation: params.generation, rejected: [] } });
      } else answer({ error: { code: "BadRequest", message: `unknown method ${method}` } });
    });
  });
  await new Promise<void>((resolve) => server!.listen(path, resolve));
  return { path, sent, removedAt, sockets };
}

function transportTo(path: string): AgentTransport {
  return {
    open: () =>
      new Promise((resolve, reject) => {
        // As the local transport: the connect error rejects; once connected, AgentConnection listens for errors.
        const socket = createConnection(path, () => {
          socket.off("error", reject);
          resolve(socket);
        });
        socket.once("error", reject);
      }),
    hostKey: undefined,
    onDisconnect: () => () => undefined,
    close: async () => undefined,
  };
}

describe("AgentNodeClient fencing a returning node", () => {
  it("stops the pods evicted while the node was away, and waits for them, before sending Services or new pods", async () => {
    // While the link was down the node kept "kept" and "evicted"; the control plane moved "evicted" away and placed "new" here.
    const agent = await startScriptedAgent(new Set(["kept", "evicted"]), 400);
    client = new AgentNodeClient({ node: "n", address: "127.0.0.1", transport: transportTo(agent.path), clock: systemClock, log: silentLogger, backoff: { initialMs: 10, maxMs: 50 } });
    // Both are asked for before the link is up, as the node manager does for an unreachable node.
    void client.syncServices([{ namespace: "default", name: "web", headless: false, ports: [] }]).catch(() => undefined);
    void client.sync([pod("kept"), pod("new")]).catch(() => undefined);

    await eventually(() => expect(agent.sent.filter((one) => one.method === "syncPods").at(-1)?.uids).toEqual(["kept", "new"]), 5_000);
    const afterStatuses = agent.sent.slice(agent.sent.findIndex((one) => one.method === "statuses") + 1);
    // The first thing sent: the set without the evicted pod, and without the new one (nothing starts yet).
    expect(afterStatuses[0]).toMatchObject({ method: "syncPods", uids: ["kept"] });
    const fenced = agent.removedAt.get("evicted");
    expect(fenced).toBeDefined();
    for (const later of afterStatuses.slice(1).filter((one) => one.method !== "ping")) expect(later.at).toBeGreaterThanOrEqual(fenced!);
    expect(afterStatuses.map((one) => one.method).filter((method) => method !== "ping")).toEqual(expect.arrayContaining(["syncServices", "syncPods"]));
    expect(client.state().connected).toBe(true);
  });

  it("sends nothing extra when the node runs no stale pod", async () => {
    const agent = await startScriptedAgent(new Set(["kept"]), 400);
    client = new AgentNodeClient({ node: "n", address: "127.0.0.1", transport: transportTo(agent.path), clock: systemClock, log: silentLogger, backoff: { initialMs: 10, maxMs: 50 } });
    void client.sync([pod("kept"), pod("new")]).catch(() => undefined);
    await eventually(() => expect(agent.sent.filter((one) => one.method === "syncPods").map((one) => one.uids)).toEqual([["kept", "new"]]), 5_000);
  });

  it("goes on after fenceTimeoutMs when a stale pod does not stop", async () => {
    const agent = await startScriptedAgent(new Set(["stuck"]), 60_000);
    client = new AgentNodeClient({ node: "n", address: "127.0.0.1", transport: transportTo(agent.path), clock: systemClock, log: silentLogger, backoff: { initialMs: 10, maxMs: 50 }, fenceTimeoutMs: 300 });
    void client.sync([pod("new")]).catch(() => undefined);
    await eventually(() => expect(agent.sent.filter((one) => one.method === "syncPods").map((one) => one.uids)).toEqual([[], ["new"]]), 5_000);
  });
});
