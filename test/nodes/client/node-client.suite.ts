import { createServer } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NodeNotConnectedError, NotFoundError } from "../../../src/errors.ts";
import type { NodeClient } from "../../../src/nodes/client/node-client.ts";
import { PROTOCOL_VERSION, type AgentPodInput, type PodStatus, type ServiceRoute } from "../../../src/nodes/protocol.ts";
import { eventually } from "../../helpers/eventually.ts";

export interface NodeClientUnderTest {
  /** Connected (state().connected) when handed over. */
  client: NodeClient;
  /** Sets a container's log text before its pod runs; the real agent's pods write their own, so it leaves this out. */
  prepareLogs?(namespace: string, name: string, container: string, text: string): void;
  /**
   * Something other than the node's proxy takes a port on the node's address:
   * rejects when the port is in use (by the proxy); resolves with a function
   * that frees it.
   */
  occupy(port: number): Promise<() => Promise<void>>;
  cleanup(): Promise<void>;
}

/** Real pods start processes: give them time on a loaded two-core machine. */
const settle = 20_000;

/**
 * One specification of the NodeClient, run against AgentNodeClient with a real
 * capstan-agent and against FakeNodeClient, so that the fake cannot promise
 * what a node does not do.
 */
export function describeNodeClient(name: string, make: () => Promise<NodeClientUnderTest>): void {
  describe(`NodeClient (${name})`, () => {
    let subject: NodeClientUnderTest;
    let client: NodeClient;

    beforeEach(async () => {
      subject = await make();
      client = subject.client;
    });

    afterEach(async () => {
      await client.close();
      await subject.cleanup();
    });

    it("reports a connected link with the node's info", () => {
      const state = client.state();
      expect(state.node).toBe(client.node);
      expect(state.connected).toBe(true);
      expect(state.lastError).toBeUndefined();
      expect(state.lastHeartbeat).toBeInstanceOf(Date);
      expect(state.info?.protocolVersion).toBe(PROTOCOL_VERSION);
      expect(state.info?.runtimes).toContain("process");
      expect(state.info?.capacity.cpuMillis).toBeGreaterThan(0);
      expect(state.info?.capacity.memoryBytes).toBeGreaterThan(0);
    });

    it("runs a valid pod set: Running and ready, with a host port per container port", async () => {
      const result = await client.sync([pod("a", { ports: true }), pod("b")]);
      expect(result.rejected).toEqual([]);
      expect(result.stale).toBeUndefined();

      await eventually(() => expect(readyNames(client)).toEqual(["a", "b"]), settle);
      const a = byName(client, "a");
      expect(a).toMatchObject({ uid: "uid-a", namespace: "default", phase: "Running", ready: true, commitSha: "c0ffee" });
      expect(a.startTime).toEqual(expect.any(String));
      expect(a.containerStatuses).toHaveLength(1);
      const main = a.containerStatuses[0]!;
      expect(main).toMatchObject({ name: "main", runtime: "process", ready: true, started: true, restartCount: 0 });
      expect(main.state).toEqual({ running: { startedAt: expect.any(String) } });
      expect(Object.keys(main.ports).sort()).toEqual(["9090", "http"]);
      expect(main.ports.http).toBeGreaterThan(0);
      expect(main.ports["9090"]).toBeGreaterThan(0);
      expect(main.ports.http).not.toBe(main.ports["9090"]);
      expect(byName(client, "b").containerStatuses[0]!.ports).toEqual({});
    });

    it("rejects bad pods by index, with why, and runs the good ones", async () => {
      const hostile = { ...pod("x"), uid: "uid-hostile", name: "../../etc" };
      const empty = { ...pod("y"), spec: { containers: [] } } as unknown as AgentPodInput;
      const result = await client.sync([hostile, pod("good"), empty, pod("good", { uid: "uid-other" })]);

      expect(result.rejected).toEqual([
        { index: 0, name: "default/../../etc", reason: expect.stringMatching(/^name: .*RFC 1123/) },
        { index: 2, name: "default/y", reason: "spec.containers: must have at least one container" },
        { index: 3, name: "default/good", reason: "duplicate pod uid or name in one syncPods" },
      ]);
      await eventually(() => expect(readyNames(client)).toEqual(["good"]), settle);
      expect(client.statuses().map((status) => status.uid)).toEqual(["uid-good"]);
    });

    it("converges on a changed set: removed pods are reported gone, new ones run, kept ones are left alone", async () => {
      const removed: string[] = [];
      const unsubscribe = client.onStatus((_changed, gone) => removed.push(...gone));
      await client.sync([pod("a"), pod("b")]);
      await eventually(() => expect(readyNames(client)).toEqual(["a", "b"]), settle);
      const b = byName(client, "b");

      const result = await client.sync([pod("b"), pod("c")]);
      expect(result.rejected).toEqual([]);
      await eventually(() => expect(client.statuses().map((status) => status.name).sort()).toEqual(["b", "c"]), settle);
      await eventually(() => expect(readyNames(client)).toEqual(["b", "c"]), settle);
      expect(removed).toEqual(["uid-a"]);
      expect(byName(client, "b").startTime).toBe(b.startTime);
      expect(byName(client, "b").containerStatuses[0]!.state).toEqual(b.containerStatuses[0]!.state);

      await client.sync([]);
      await eventually(() => expect(client.statuses()).toEqual([]), settle);
      expect(removed.sort()).toEqual(["uid-a", "uid-b", "uid-c"]);
      unsubscribe();
    });

    it("restarts nothing when the same set comes again", async () => {
      const set = [pod("a", { ports: true }), pod("b")];
      await client.sync(set);
      await eventually(() => expect(readyNames(client)).toEqual(["a", "b"]), settle);
      const before = client.statuses();

      const again = await client.sync(structuredClone(set));
      expect(again.rejected).toEqual([]);
      // Long enough for a restart (or a replacement) to have begun on a real node.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = client.statuses();
      expect(after.map((status) => status.name).sort()).toEqual(["a", "b"]);
      for (const status of before) {
        const now = after.find((candidate) => candidate.uid === status.uid)!;
        expect(now.startTime).toBe(status.startTime);
        expect(now.ready).toBe(true);
        expect(now.containerStatuses[0]!.restartCount).toBe(0);
        expect(now.containerStatuses[0]!.state).toEqual(status.containerStatuses[0]!.state);
        expect(now.containerStatuses[0]!.ports).toEqual(status.containerStatuses[0]!.ports);
      }
    });

    it("returns a pod's log text", async () => {
      subject.prepareLogs?.("default", "talker", "main", "ready-line\n");
      await client.sync([pod("talker", { command: [process.execPath, "-e", "console.log('ready-line'); setInterval(() => {}, 1000)"] })]);
      await eventually(() => expect(readyNames(client)).toEqual(["talker"]), settle);

      await eventually(async () => {
        let text = "";
        await client.logs({ namespace: "default", name: "talker", follow: false }, (_container, chunk) => (text += chunk));
        expect(text).toContain("ready-line");
      }, settle);
      let named = "";
      await client.logs({ namespace: "default", name: "talker", container: "main", tailLines: 5, follow: false }, (container, chunk) => {
        expect(container).toBe("main");
        named += chunk;
      });
      expect(named).toContain("ready-line");
    });

    it("rejects logs of a pod that is not on the node, or of a container not in the pod, with NotFoundError", async () => {
      await expect(client.logs({ namespace: "default", name: "nowhere", follow: false }, () => undefined)).rejects.toBeInstanceOf(NotFoundError);
      await client.sync([pod("a")]);
      await expect(
        client.logs({ namespace: "default", name: "a", container: "sidecar", follow: false }, () => undefined),
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it("serves Services: listeners on each port and nodePort (none for headless ones), freed when a Service goes", async () => {
      const [port, nodePort, headlessPort] = await freePorts(3);
      const first = await client.syncServices([
        route("web", [{ name: "http", port: port!, nodePort: nodePort!, endpoints: [{ address: "127.0.0.1", port: 9, pod: "default/web-1" }] }]),
        route("db", [{ port: headlessPort!, endpoints: [] }], true),
      ]);
      expect(first).toMatchObject({ generation: expect.any(Number), listenErrors: [] });
      expect(first.stale).toBeUndefined();
      await expect(subject.occupy(port!)).rejects.toMatchObject({ code: "EADDRINUSE" });
      await expect(subject.occupy(nodePort!)).rejects.toMatchObject({ code: "EADDRINUSE" });
      await (await subject.occupy(headlessPort!))();

      const second = await client.syncServices([]);
      expect(second.generation).toBeGreaterThan(first.generation);
      expect(second.listenErrors).toEqual([]);
      await eventually(async () => (await subject.occupy(port!))(), settle);
      await eventually(async () => (await subject.occupy(nodePort!))(), settle);
    });

    it("reports a port it cannot listen on, naming the Service, and serves the others", async () => {
      const [taken, free] = await freePorts(2);
      const release = await subject.occupy(taken!);
      try {
        const result = await client.syncServices([route("blocked", [{ port: taken!, endpoints: [] }]), route("open", [{ port: free!, endpoints: [] }])]);
        expect(result.listenErrors).toEqual([{ namespace: "default", name: "blocked", port: taken, reason: expect.any(String) }]);
        await expect(subject.occupy(free!)).rejects.toMatchObject({ code: "EADDRINUSE" });
      } finally {
        await release();
        await client.syncServices([]);
      }
    });

    it("closes, after which sync and syncServices reject with NodeNotConnectedError", async () => {
      await client.sync([pod("a")]);
      await expect(client.close()).resolves.toBeUndefined();
      expect(client.state().connected).toBe(false);
      await expect(client.sync([pod("a")])).rejects.toBeInstanceOf(NodeNotConnectedError);
      await expect(client.syncServices([])).rejects.toBeInstanceOf(NodeNotConnectedError);
    });
  });
}

/** A pod of one long-running process container named "main". */
function pod(name: string, options: { uid?: string; ports?: boolean; command?: string[] } = {}): AgentPodInput {
  return {
    uid: options.uid ?? `uid-${name}`,
    namespace: "default",
    name,
    commitSha: "c0ffee",
    spec: {
      containers: [
        {
          name: "main",
          command: options.command ?? [process.execPath, "-e", "setInterval(() => {}, 1000)"],
          ...(options.ports ? { ports: [{ name: "http", containerPort: 8080 }, { containerPort: 9090 }] } : {}),
        },
      ],
      terminationGracePeriodSeconds: 1,
    },
  } as AgentPodInput;
}

function readyNames(client: NodeClient): string[] {
  return client
    .statuses()
    .filter((status) => status.phase === "Running" && status.ready)
    .map((status) => status.name)
    .sort();
}

function byName(client: NodeClient, name: string): PodStatus {
  const status = client.statuses().find((candidate) => candidate.name === name);
  if (!status) throw new Error(`no status for pod ${name}`);
  return status;
}

function route(name: string, ports: ServiceRoute["ports"], headless = false): ServiceRoute {
  return { namespace: "default", name, headless, ports };
}

/** Ports nothing listens on at the moment (the kernel's choice, released at once). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Takes a port on 127.0.0.1 as another program would: the real agent's listeners there make it fail with EADDRINUSE. */
export function occupyOnHost(address: string): (port: number) => Promise<() => Promise<void>> {
  return (port) =>
    new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(port, address, () => resolve(() => new Promise<void>((done) => server.close(() => done()))));
    });
}
