import { readFile } from "node:fs/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { silentLogger } from "../../src/logging.ts";
import { AgentNodeClient, createSshTransport, type NodeClient } from "../../src/nodes/index.ts";
import type { AgentPodInput, PodStatus } from "../../src/nodes/protocol.ts";
import { agentCommand, agentId, agentPid, agentStateDir, alive, killAgent, processesOfAgent } from "../helpers/agent.ts";
import { requireSshd, startSshd, type SshdServer } from "../helpers/sshd.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * The node link end to end: the control-plane client, a real OpenSSH sshd on
 * 127.0.0.2-4, the real capstan-agent started over SSH, real pod processes.
 */

const servers: SshdServer[] = [];
let privateKey: string;
const cleanups: (() => Promise<void>)[] = [];
const clients: NodeClient[] = [];

beforeAll(async () => {
  requireSshd();
  servers.push(...(await Promise.all(["127.0.0.2", "127.0.0.3", "127.0.0.4"].map((address) => startSshd({ address })))));
  privateKey = await readFile(servers[0]!.clientKey.privateKeyPath, "utf8");
}, 60_000);

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

/** A pod whose one container serves HTTP on its PORT and is ready once it answers. */
function webPod(name: string, uid = `uid-${name}`): AgentPodInput {
  const server = "require('http').createServer((q, s) => s.end(process.env.POD_NAME)).listen(process.env.PORT, '127.0.0.1')";
  return {
    uid,
    namespace: "default",
    name,
    spec: {
      containers: [
        {
          name: "web",
          command: [process.execPath, "-e", server],
          env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
          ports: [{ name: "http", containerPort: 8080 }],
          readinessProbe: { httpGet: { path: "/", port: "http" }, periodSeconds: 1 },
        },
      ],
      terminationGracePeriodSeconds: 2,
    },
  } as AgentPodInput;
}

async function connect(server: SshdServer, options: { pinnedHostKey?: string; stateDir?: string } = {}) {
  let stateDir = options.stateDir;
  if (!stateDir) {
    const dir = await agentStateDir();
    cleanups.push(dir.cleanup);
    stateDir = dir.stateDir;
  }
  const client = new AgentNodeClient({
    node: `node-${server.address.split(".").at(-1)}`,
    address: server.address,
    transport: createSshTransport({
      node: `node-${server.address}`,
      address: server.address,
      port: server.port,
      user: "root",
      privateKey,
      pinnedHostKey: "pinnedHostKey" in options ? options.pinnedHostKey : server.hostKey,
      location: { stateDir, agentCommand },
      log: silentLogger,
    }),
    clock: systemClock,
    log: silentLogger,
    heartbeatIntervalMs: 1_000,
    backoff: { initialMs: 100, maxMs: 1_000 },
  });
  clients.push(client);
  return { client, stateDir };
}

/** A connected link: sync() before the first connect is remembered but rejects (the node is not reachable yet). */
async function connected(link: Promise<{ client: AgentNodeClient; stateDir: string }>) {
  const value = await link;
  await eventually(() => expect(value.client.state().connected).toBe(true), 20_000);
  return value;
}

function readyPods(client: NodeClient): PodStatus[] {
  return client.statuses().filter((pod) => pod.phase === "Running" && pod.ready);
}

function pidsOf(client: NodeClient): Record<string, number | undefined> {
  return Object.fromEntries(client.statuses().map((pod) => [pod.name, pod.containerStatuses[0]?.pid]));
}

async function get(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/`)).text();
}

describe("node link over real SSH", () => {
  it("runs pods on three nodes, then stops those removed from the set and starts the new ones", async () => {
    const links = await Promise.all(servers.map((server) => connect(server)));
    // Remembered before the links are up, delivered once they are.
    for (const { client } of links) client.sync([webPod("a"), webPod("b")]).catch(() => undefined);
    for (const { client } of links) {
      await eventually(() => expect(readyPods(client).map((pod) => pod.name).sort()).toEqual(["a", "b"]), 20_000);
      const a = client.statuses().find((pod) => pod.name === "a")!;
      expect(await get(a.containerStatuses[0]!.ports.http!)).toBe("a");
    }

    const { client } = links[0]!;
    const before = pidsOf(client);
    await client.sync([webPod("b"), webPod("c")]);
    await eventually(() => expect(readyPods(client).map((pod) => pod.name).sort()).toEqual(["b", "c"]), 20_000);
    await eventually(() => expect(client.statuses().map((pod) => pod.name).sort()).toEqual(["b", "c"]));
    expect(alive(before.a!)).toBe(false);
    expect(pidsOf(client).b).toBe(before.b);
    for (const { client: other } of links.slice(1)) expect(other.state().connected).toBe(true);
  });

  it("refuses a host whose key is not the pinned one, and never starts an agent there", async () => {
    const { client, stateDir } = await connect(servers[1]!, { pinnedHostKey: servers[0]!.hostKey });
    await eventually(() => expect(client.state().lastError?.code).toBe("HostKeyMismatch"));
    expect(client.state().connected).toBe(false);
    await expect(client.sync([webPod("a")])).rejects.toThrow(/not connected/);
    expect(await agentPid(stateDir)).toBeUndefined();
  });

  it("trusts an unpinned host on first use and reports its fingerprint", async () => {
    const { client } = await connect(servers[2]!, { pinnedHostKey: undefined });
    // The first connect starts the agent (node + tsx): seconds on a loaded machine.
    await eventually(() => expect(client.state().connected).toBe(true), 20_000);
    expect(client.state().hostKey).toMatchObject({ fingerprint: servers[2]!.hostKeyFingerprint, trustedOnFirstUse: true });
  });

  it("reconnects and resyncs after the SSH connection is killed, without duplicating processes", async () => {
    const { client, stateDir } = await connected(connect(servers[0]!));
    await client.sync([webPod("a"), webPod("b")]);
    await eventually(() => expect(readyPods(client)).toHaveLength(2), 20_000);
    const id = (await agentId(stateDir))!;
    const before = { pids: pidsOf(client), processes: (await processesOfAgent(id)).sort(), reconnects: client.state().reconnects };

    await servers[0]!.killConnections();
    await eventually(() => expect(client.state().reconnects).toBeGreaterThan(before.reconnects), 10_000);
    await eventually(() => expect(client.state().connected).toBe(true), 10_000);
    await client.sync([webPod("a"), webPod("b")]);
    expect(pidsOf(client)).toEqual(before.pids);
    expect((await processesOfAgent(id)).sort()).toEqual(before.processes);
  });

  it("takes a link down after three missed heartbeats (an agent that hangs), and comes back when it answers again", async () => {
    const { client, stateDir } = await connected(connect(servers[0]!));
    const pid = (await agentPid(stateDir))!;
    const reconnects = client.state().reconnects;
    process.kill(pid, "SIGSTOP");
    try {
      // 1 s heartbeats here: one interval of quiet, then three unanswered pings.
      await eventually(() => expect(client.state().connected).toBe(false), 15_000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await eventually(() => expect(client.state().connected).toBe(true), 20_000);
    expect(client.state().reconnects).toBeGreaterThan(reconnects);
    expect(await agentPid(stateDir)).toBe(pid);
  });

  it("restarts an agent killed with SIGKILL, which re-adopts its pods instead of starting them again", async () => {
    const { client, stateDir } = await connected(connect(servers[1]!));
    await client.sync([webPod("a"), webPod("b")]);
    await eventually(() => expect(readyPods(client)).toHaveLength(2), 20_000);
    const id = (await agentId(stateDir))!;
    const firstAgent = (await agentPid(stateDir))!;
    const before = { pids: pidsOf(client), processes: (await processesOfAgent(id)).sort() };

    await killAgent(stateDir);
    await eventually(async () => expect(await agentPid(stateDir)).not.toBe(firstAgent), 20_000);
    await eventually(() => expect(client.state().connected).toBe(true), 20_000);
    await eventually(() => expect(readyPods(client)).toHaveLength(2), 20_000);
    expect(pidsOf(client)).toEqual(before.pids);
    expect((await processesOfAgent(id)).sort()).toEqual(before.processes);
    expect(readyPods(client).every((pod) => pod.containerStatuses[0]!.restartCount === 0)).toBe(true);
  });

  it("keeps pods running when the control plane goes away, and a new one picks them up unchanged", async () => {
    const first = await connected(connect(servers[2]!));
    await first.client.sync([webPod("a")]);
    await eventually(() => expect(readyPods(first.client)).toHaveLength(1), 20_000);
    const pid = pidsOf(first.client).a!;
    const port = first.client.statuses()[0]!.containerStatuses[0]!.ports.http!;

    await first.client.close();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(alive(pid)).toBe(true);
    expect(await get(port)).toBe("a");

    const second = await connected(connect(servers[2]!, { stateDir: first.stateDir }));
    await eventually(() => expect(readyPods(second.client)).toHaveLength(1), 20_000);
    await second.client.sync([webPod("a")]);
    expect(pidsOf(second.client).a).toBe(pid);
  });
});
