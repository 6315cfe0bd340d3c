import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logging.ts";
import { Agent, serveAgent, type AgentServer } from "../../../src/nodes/agent/index.ts";
import { createProcessRuntime } from "../../../src/nodes/agent/runtime/index.ts";
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from "../../../src/nodes/protocol.ts";
import { agentStateDir, processesOfAgent } from "../../helpers/agent.ts";
import { eventually } from "../../helpers/eventually.ts";
import { exchange, freePort, startEchoBackend } from "../../helpers/tcp.ts";

/** The agent's socket and protocol, spoken raw: what a broken or hostile peer can send. */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh agent, or (with `stateDir`) the next agent process on the state another one left. */
async function startAgent(existingStateDir?: string): Promise<{ agent: Agent; server: AgentServer; stateDir: string }> {
  let stateDir = existingStateDir;
  if (stateDir === undefined) {
    const dir = await agentStateDir();
    cleanups.push(dir.cleanup);
    stateDir = dir.stateDir;
  }
  const agent = await Agent.open({ stateDir, log: silentLogger, runtimes: new Map([["process", createProcessRuntime()]]) });
  const server = await serveAgent(agent, join(stateDir, "agent.sock"), silentLogger);
  cleanups.push(async () => {
    await server.close();
    await agent.close();
    await agent.removeSecretRoot();
  });
  return { agent, server, stateDir };
}

/** A raw protocol peer: send a line, read parsed answers/events. */
async function peer(path: string) {
  const socket: Socket = createConnection(path);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  cleanups.push(async () => void socket.destroy());
  const messages: Record<string, unknown>[] = [];
  createInterface({ input: socket }).on("line", (line) => messages.push(JSON.parse(line) as Record<string, unknown>));
  return {
    send: (line: string) => socket.write(`${line}\n`),
    request: async (id: number, method: string, params: unknown) => {
      socket.write(`${JSON.stringify({ id, method, params })}\n`);
      return eventually(() => {
        const answer = messages.find((message) => message.id === id);
        expect(answer).toBeDefined();
        return answer!;
      });
    },
    messages,
    socket,
  };
}

const hello = { protocolVersion: PROTOCOL_VERSION, node: { name: "n1", address: "127.0.0.1" } };

describe("capstan-agent socket", () => {
  it("is a 0600 socket in a 0700 directory", async () => {
    const { server, stateDir } = await startAgent();
    expect((await stat(server.path)).mode & 0o777).toBe(0o600);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
  });

  it("answers malformed frames with errors and keeps serving", async () => {
    const { server } = await startAgent();
    const client = await peer(server.path);
    client.send("this is not json");
    client.send(JSON.stringify({ id: 7, method: "format-disk", params: {} }));
    client.send(JSON.stringify({ id: 8, method: "syncPods", params: { generation: "many" } }));
    client.send("x".repeat(MAX_FRAME_BYTES + 10));
    await eventually(() => expect(client.messages.length).toBeGreaterThanOrEqual(4));
    expect(client.messages[0]).toMatchObject({ id: null, error: { code: "BadFrame" } });
    expect(client.messages.find((message) => message.id === 7)).toMatchObject({ error: { code: "BadRequest" } });
    expect(client.messages.find((message) => message.id === 8)).toMatchObject({ error: { code: "BadRequest" } });
    expect(client.messages.filter((message) => (message.error as { code?: string } | undefined)?.code === "BadFrame")).toHaveLength(2);

    expect(await client.request(9, "syncPods", { generation: 1, pods: [] })).toMatchObject({ error: { message: "send hello first" } });
    expect(await client.request(10, "hello", { protocolVersion: 99 })).toMatchObject({ error: { code: "UnsupportedVersion" } });
    expect(await client.request(11, "hello", hello)).toMatchObject({ result: { protocolVersion: PROTOCOL_VERSION, generation: 0 } });
    expect(await client.request(12, "ping", {})).toEqual({ id: 12, result: {} });
  });

  it("rejects a hostile pod name and a bad pod, runs the good one, and reports a missing command as a container error", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    await client.request(1, "hello", hello);
    const container = (command: string) => ({ name: "main", command: [command, "-e", "setInterval(() => {}, 1000)"] });
    const answer = await client.request(2, "syncPods", {
      generation: 1,
      pods: [
        { uid: "u1", namespace: "default", name: "../../etc", spec: { containers: [container(process.execPath)] } },
        { uid: "u2", namespace: "default", name: "no-containers", spec: { containers: [] } },
        { uid: "u3", namespace: "default", name: "good", spec: { containers: [container(process.execPath)] } },
        { uid: "u4", namespace: "default", name: "missing", spec: { containers: [container("/nonexistent/program")] } },
        "not even an object",
      ],
    });
    const result = answer.result as { rejected: { index: number; reason: string }[] };
    expect(result.rejected.map((rejection) => rejection.index)).toEqual([0, 1, 4]);
    expect(result.rejected[0]!.reason).toMatch(/^name: /);
    expect(result.rejected[1]!.reason).toMatch(/spec\.containers.*at least one container/);

    await eventually(() => {
      const byName = Object.fromEntries(agent.statuses().map((pod) => [pod.name, pod]));
      expect(byName.good?.phase).toBe("Running");
      expect(byName.missing?.containerStatuses[0]?.state).toMatchObject({ waiting: { reason: "RunContainerError" } });
    }, 10_000);
    // The agent is fine: it still answers.
    expect(await client.request(3, "ping", {})).toEqual({ id: 3, result: {} });
    // Status changes were pushed to the connected peer as events.
    expect(client.messages.some((message) => message.event === "podStatus")).toBe(true);
  });

  it("ignores an older generation and applies the same generation idempotently", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    await client.request(1, "hello", hello);
    const pod = { uid: "u1", namespace: "default", name: "sleeper", spec: { containers: [{ name: "main", command: ["sleep", "1000"] }] } };
    await client.request(2, "syncPods", { generation: 5, pods: [pod] });
    await eventually(() => expect(agent.statuses()[0]?.phase).toBe("Running"));
    const pid = agent.statuses()[0]!.containerStatuses[0]!.pid;

    expect((await client.request(3, "syncPods", { generation: 4, pods: [] })).result).toMatchObject({ stale: true, generation: 5 });
    expect((await client.request(4, "syncPods", { generation: 5, pods: [pod] })).result).toMatchObject({ generation: 5, rejected: [] });
    expect(agent.statuses()).toHaveLength(1);
    expect(agent.statuses()[0]!.containerStatuses[0]!.pid).toBe(pid);
    expect(await processesOfAgent(agent.agentId)).toEqual([pid]);
  });

  it("keeps a pod running when only the ConfigMap or Secret data sent with it changes (the controllers roll pods for that)", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    await client.request(1, "hello", hello);
    const pod = (token: string) => ({
      uid: "u1",
      namespace: "default",
      name: "sleeper",
      spec: { containers: [{ name: "main", command: ["sleep", "1000"], env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "s", key: "t" } } }] }] },
      secrets: { s: { t: Buffer.from(token).toString("base64") } },
    });
    await client.request(2, "syncPods", { generation: 1, pods: [pod("one")] });
    await eventually(() => expect(agent.statuses()[0]?.phase).toBe("Running"));
    const pid = agent.statuses()[0]!.containerStatuses[0]!.pid;
    await client.request(3, "syncPods", { generation: 2, pods: [pod("two")] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(agent.statuses()[0]!.containerStatuses[0]!.pid).toBe(pid);
    expect(await processesOfAgent(agent.agentId)).toEqual([pid]);
  });

  it("serves a container's log tail and follows it", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    await client.request(1, "hello", hello);
    const script = "let n = 0; setInterval(() => console.log('line ' + n++), 50)";
    await client.request(2, "syncPods", {
      generation: 1,
      pods: [{ uid: "u1", namespace: "default", name: "talker", spec: { containers: [{ name: "main", command: [process.execPath, "-e", script] }] } }],
    });
    await eventually(() => expect(agent.statuses()[0]?.phase).toBe("Running"));
    await eventually(async () => {
      const answer = await client.request(Math.floor(Math.random() * 1e9), "logs", { namespace: "default", name: "talker", tailLines: 2 });
      expect((answer.result as { text: string }).text).toMatch(/^line \d+\nline \d+\n$/);
    });
    const notFound = await client.request(3, "logs", { namespace: "default", name: "nobody" });
    expect(notFound).toMatchObject({ error: { code: "NotFound" } });

    client.send(JSON.stringify({ id: 4, method: "logs", params: { namespace: "default", name: "talker", follow: true, tailLines: 0 } }));
    await eventually(() => expect(client.messages.filter((message) => message.event === "log" && message.requestId === 4).length).toBeGreaterThan(2));
    await client.request(5, "cancel", { requestId: 4 });
    await eventually(() => expect(client.messages.find((message) => message.id === 4)).toMatchObject({ result: {} }));
  });

  it("ends a follow whose reader falls too far behind instead of buffering without bound", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    await client.request(1, "hello", hello);
    // About 20 MiB/s of output for as long as the test runs, and a reader that stops reading.
    const chatter = "while true; do head -c 1048576 /dev/zero | tr '\\0' x; sleep 0.05; done";
    const pod = { uid: "u1", namespace: "default", name: "chatty", spec: { containers: [{ name: "main", command: ["sh", "-c", chatter] }] } };
    await client.request(2, "syncPods", { generation: 1, pods: [pod] });
    await eventually(() => expect(agent.statuses()[0]?.phase).toBe("Running"));
    client.socket.pause();
    client.send(JSON.stringify({ id: 3, method: "logs", params: { namespace: "default", name: "chatty", follow: true, tailLines: 0 } }));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    client.socket.resume();
    await eventually(() => expect(client.messages.find((message) => message.id === 3)).toMatchObject({ error: { message: expect.stringMatching(/fell too far behind/) } }), 20_000);
    expect(await client.request(4, "ping", {})).toEqual({ id: 4, result: {} });
  });
});

describe("capstan-agent syncServices", () => {
  // An address of its own, so these listeners cannot meet another test's.
  const nodeAddress = "127.0.0.41";
  const nodeHello = { protocolVersion: PROTOCOL_VERSION, node: { name: "n1", address: nodeAddress } };

  async function backend(tag: string) {
    const echo = await startEchoBackend(nodeAddress, tag);
    cleanups.push(echo.close);
    return echo;
  }

  it("serves the newest generation, ignores an older one, and names the Service of a bad route", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    expect(await client.request(1, "hello", nodeHello)).toMatchObject({ result: { servicesGeneration: 0 } });
    const echo = await backend("web-0");
    const port = await freePort(nodeAddress);
    const route = { namespace: "shop", name: "web", ports: [{ port, endpoints: [{ address: nodeAddress, port: echo.port }] }] };

    expect((await client.request(2, "syncServices", { generation: 3, services: [route] })).result).toEqual({ generation: 3, listenErrors: [] });
    expect((await exchange(nodeAddress, port, "hi")).body.toString()).toBe("hi");

    expect((await client.request(3, "syncServices", { generation: 2, services: [] })).result).toEqual({ generation: 3, listenErrors: [], stale: true });
    expect(agent.serviceListeners()).toEqual(new Map([[`${nodeAddress}:${port}`, "shop/web"]]));
    expect((await exchange(nodeAddress, port)).tag).toBe("web-0");

    const bad = { namespace: "shop", name: "cart", ports: [{ port: 70_000, endpoints: [] }] };
    const refused = await client.request(4, "syncServices", { generation: 4, services: [route, bad] });
    expect(refused).toMatchObject({ error: { code: "BadRequest", message: expect.stringMatching(/service shop\/cart \(services\[1\]\): .*ports/) } });
    const twice = await client.request(5, "syncServices", { generation: 4, services: [route, route] });
    expect(twice).toMatchObject({ error: { code: "BadRequest", message: "service shop/web is listed twice" } });
    // Refused sets changed nothing.
    expect(agent.serviceListeners().size).toBe(1);
    expect(agent.info().servicesGeneration).toBe(3);

    expect((await client.request(6, "syncServices", { generation: 4, services: [] })).result).toEqual({ generation: 4, listenErrors: [] });
    expect(agent.serviceListeners().size).toBe(0);
  });

  it("serves its Services again after a restart, before any control plane is back", async () => {
    const first = await startAgent();
    const client = await peer(first.server.path);
    await client.request(1, "hello", nodeHello);
    const echo = await backend("api-0");
    const port = await freePort(nodeAddress);
    const route = { namespace: "shop", name: "api", ports: [{ name: "http", port, endpoints: [{ address: nodeAddress, port: echo.port }] }] };
    await client.request(2, "syncServices", { generation: 7, services: [route] });
    client.socket.destroy();
    await first.server.close();
    await first.agent.close();
    expect(first.agent.serviceListeners().size).toBe(0);

    const second = await startAgent(first.stateDir);
    expect(second.agent.info().servicesGeneration).toBe(7);
    expect(second.agent.serviceListeners()).toEqual(new Map([[`${nodeAddress}:${port}`, "shop/api"]]));
    expect(await exchange(nodeAddress, port, "after restart")).toEqual({ tag: "api-0", body: Buffer.from("after restart") });
    const again = await peer(second.server.path);
    expect((await again.request(1, "hello", nodeHello)).result).toMatchObject({ servicesGeneration: 7 });
    expect((await again.request(2, "syncServices", { generation: 6, services: [] })).result).toMatchObject({ stale: true, generation: 7 });
  });

  it("gives containers the Services of their namespace at start; a running container keeps what it started with", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    await client.request(1, "hello", nodeHello);
    const [port, other] = [await freePort(nodeAddress), await freePort(nodeAddress)];
    const services = (webPort: number) => [
      { namespace: "shop", name: "web-api", ports: [{ name: "http", port: webPort, endpoints: [] }, { name: "admin-ui", port: other, endpoints: [] }] },
      { namespace: "elsewhere", name: "db", ports: [{ port: 5432, endpoints: [] }] },
    ];
    await client.request(2, "syncServices", { generation: 1, services: services(port) });
    const printer = (name: string, uid: string) => ({
      uid,
      namespace: "shop",
      name,
      spec: {
        containers: [
          {
            name: "main",
            command: ["sh", "-c", 'echo "$WEB_API_SERVICE_HOST:$WEB_API_SERVICE_PORT admin=$WEB_API_SERVICE_PORT_ADMIN_UI link=$WEB_API_PORT db=${DB_SERVICE_HOST:-none} mine=$MINE"; sleep 1000'],
            env: [{ name: "MINE", value: "$(WEB_API_SERVICE_PORT_HTTP)" }],
          },
        ],
      },
    });
    await client.request(3, "syncPods", { generation: 1, pods: [printer("first", "u1")] });
    const logOf = async (name: string) => {
      const answer = await client.request(Math.floor(Math.random() * 1e9), "logs", { namespace: "shop", name });
      return (answer.result as { text: string }).text;
    };
    const expected = (webPort: number) => `${nodeAddress}:${webPort} admin=${other} link=tcp://${nodeAddress}:${webPort} db=none mine=${webPort}\n`;
    await eventually(async () => expect(await logOf("first")).toBe(expected(port)));
    const pid = agent.statuses()[0]!.containerStatuses[0]!.pid;

    const moved = await freePort(nodeAddress);
    await client.request(4, "syncServices", { generation: 2, services: services(moved) });
    await client.request(5, "syncPods", { generation: 2, pods: [printer("first", "u1"), printer("second", "u2")] });
    await eventually(async () => expect(await logOf("second")).toBe(expected(moved)));
    expect(await logOf("first")).toBe(expected(port));
    expect(agent.statuses().find((pod) => pod.name === "first")!.containerStatuses[0]!.pid).toBe(pid);
  });

  it("stops sending connections to its own pod the moment it turns not ready or starts stopping", async () => {
    const { server, agent } = await startAgent();
    const client = await peer(server.path);
    await client.request(1, "hello", nodeHello);
    const remote = await startEchoBackend("127.0.0.42", "remote");
    cleanups.push(remote.close);
    const flags = await mkdtemp(join(tmpdir(), "capstan-ready-"));
    cleanups.push(() => rm(flags, { recursive: true, force: true }));
    const readyFile = join(flags, "ready");
    await writeFile(readyFile, "");
    const echo = `require("net").createServer({allowHalfOpen:true},(s)=>{s.write("pod\\n");s.pipe(s)}).listen(+process.env.PORT,"${nodeAddress}")`;
    const pod = {
      uid: "u1",
      namespace: "shop",
      name: "web-0",
      spec: {
        containers: [
          {
            name: "main",
            command: [process.execPath, "-e", echo],
            ports: [{ name: "http", containerPort: 8080 }],
            readinessProbe: { exec: { command: ["test", "-f", readyFile] }, periodSeconds: 1, failureThreshold: 1 },
            // A long preStop: the endpoint must be gone while it runs, not after SIGTERM.
            lifecycle: { preStop: { exec: { command: ["sleep", "3"] } } },
          },
        ],
        terminationGracePeriodSeconds: 10,
      },
    };
    await client.request(2, "syncPods", { generation: 1, pods: [pod] });
    await eventually(() => expect(agent.statuses()[0]?.ready).toBe(true));
    const podPort = agent.statuses()[0]!.containerStatuses[0]!.ports.http!;
    const port = await freePort(nodeAddress);
    const endpoints = [{ address: nodeAddress, port: podPort, pod: "shop/web-0" }, { address: remote.host, port: remote.port, pod: "shop/web-1" }];
    await client.request(3, "syncServices", { generation: 1, services: [{ namespace: "shop", name: "web", ports: [{ port, endpoints }] }] });
    const through = async (count: number) => {
      const tags: string[] = [];
      for (let index = 0; index < count; index += 1) tags.push((await exchange(nodeAddress, port)).tag);
      return tags;
    };
    expect(new Set(await through(2))).toEqual(new Set(["pod", "remote"]));

    await rm(readyFile);
    await eventually(() => expect(agent.statuses()[0]?.ready).toBe(false));
    expect(await through(3)).toEqual(["remote", "remote", "remote"]);
    await writeFile(readyFile, "");
    await eventually(() => expect(agent.statuses()[0]?.ready).toBe(true));
    expect(new Set(await through(2))).toEqual(new Set(["pod", "remote"]));

    // Deleted: no new connection reaches it while its preStop hook runs, though it still answers directly.
    await client.request(4, "syncPods", { generation: 2, pods: [] });
    expect(await through(3)).toEqual(["remote", "remote", "remote"]);
    expect((await exchange(nodeAddress, podPort)).tag).toBe("pod");
  });
});
