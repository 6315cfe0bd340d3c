import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/clock.ts";
import { silentLogger } from "../../../src/logging.ts";
import { AgentNodeClient, AgentRequestError, type AgentTransport } from "../../../src/nodes/client/index.ts";
import { PROTOCOL_VERSION } from "../../../src/nodes/protocol.ts";
import { eventually } from "../../helpers/eventually.ts";

/**
 * AgentNodeClient against a scripted agent that does not know `syncServices`
 * (an agent older than Services): the Services are refused, and the link and
 * the pods carry on, reconnects included.
 */

let dir: string | undefined;
let server: Server | undefined;
let client: AgentNodeClient | undefined;

afterEach(async () => {
  await client?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
  client = undefined;
  server = undefined;
  dir = undefined;
});

/** Answers like a capstan-agent, except `syncServices`, which it does not know. Records each method called, in order. */
async function startScriptedAgent(): Promise<{ path: string; methods: string[]; sockets: Set<Socket> }> {
  dir = await mkdtemp(join(tmpdir(), "capstan-scripted-agent-"));
  const path = join(dir, "agent.sock");
  const methods: string[] = [];
  const sockets = new Set<Socket>();
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    createInterface({ input: socket }).on("line", (line) => {
      const { id, method, params } = JSON.parse(line) as { id: number; method: string; params: { generation?: number } };
      methods.push(method);
      const answer = (body: object) => socket.write(`${JSON.stringify({ id, ...body })}\n`);
      if (method === "hello") {
        answer({
          result: {
            protocolVersion: PROTOCOL_VERSION,
            agentVersion: "old",
            hostname: "old",
            bootId: "boot",
            capacity: { cpuMillis: 1000, memoryBytes: 1e9 },
            runtimes: ["process"],
            generation: 0,
            stateDir: "/nowhere",
          },
        });
      } else if (method === "statuses") answer({ result: { pods: [] } });
      else if (method === "ping") answer({ result: {} });
      else if (method === "syncPods") answer({ result: { generation: params.generation, rejected: [] } });
      else answer({ error: { code: "BadRequest", message: `unknown method ${method}` } });
    });
  });
  await new Promise<void>((resolve) => server!.listen(path, resolve));
  return { path, methods, sockets };
}

function transportTo(path: string): AgentTransport {
  return {
    open: () =>
      new Promise((resolve, reject) => {
        const socket = createConnection(path, () => resolve(socket));
        socket.once("error", reject);
      }),
    hostKey: undefined,
    onDisconnect: () => () => undefined,
    close: async () => undefined,
  };
}

describe("AgentNodeClient and an agent without Services", () => {
  it("reports the refusal to the caller, and keeps the link and the pods going across a reconnect", async () => {
    const agent = await startScriptedAgent();
    client = new AgentNodeClient({
      node: "old",
      address: "127.0.0.1",
      transport: transportTo(agent.path),
      clock: systemClock,
      log: silentLogger,
      backoff: { initialMs: 10, maxMs: 50 },
    });
    await eventually(() => expect(client!.state().connected).toBe(true));
    await expect(client.syncServices([{ namespace: "default", name: "web", headless: false, ports: [] }])).rejects.toBeInstanceOf(AgentRequestError);
    expect((await client.sync([])).rejected).toEqual([]);

    // The connection drops: on the next one the Services are offered again (and refused), then the pods are sent.
    agent.methods.length = 0;
    for (const socket of agent.sockets) socket.destroy();
    await eventually(() => expect(agent.methods).toEqual(expect.arrayContaining(["hello", "statuses", "syncServices", "syncPods"])));
    expect(agent.methods.indexOf("syncServices")).toBeLessThan(agent.methods.indexOf("syncPods"));
    await eventually(() => expect(client!.state().connected).toBe(true));
    expect(client.state().lastError).toBeUndefined();
  });
});
