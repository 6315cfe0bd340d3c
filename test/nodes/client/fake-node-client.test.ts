import { describe, expect, it } from "vitest";
import { systemClock } from "../../../src/clock.ts";
import { NodeNotConnectedError, NotFoundError } from "../../../src/errors.ts";
import { FakeNodeClient } from "../../../src/nodes/client/index.ts";
import type { NodeLinkState } from "../../../src/nodes/client/node-client.ts";
import type { AgentPodInput, PodStatus } from "../../../src/nodes/protocol.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";
import { describeNodeClient } from "./node-client.suite.ts";

describeNodeClient("in-memory fake", async () => {
  const client = new FakeNodeClient({ node: "fake", clock: systemClock });
  return {
    client,
    prepareLogs: (namespace, name, container, text) => client.setLogs(namespace, name, container, text),
    occupy: (port) => client.occupyPort(port),
    cleanup: async () => undefined,
  };
});

function pod(name: string, extra: { restartPolicy?: "Always" | "OnFailure" | "Never"; containers?: string[]; image?: string } = {}): AgentPodInput {
  return {
    uid: `uid-${name}`,
    namespace: "default",
    name,
    spec: {
      ...(extra.restartPolicy ? { restartPolicy: extra.restartPolicy } : {}),
      containers: (extra.containers ?? ["main"]).map((container) => ({
        name: container,
        command: ["/bin/sleep", "infinity"],
        ...(extra.image ? { image: extra.image } : {}),
        ports: [{ name: "http", containerPort: 8080 }],
      })),
    },
  } as AgentPodInput;
}

function named(statuses: PodStatus[], name: string): PodStatus {
  return statuses.find((status) => status.name === name)!;
}

function recorder(client: FakeNodeClient) {
  const events: { changed: string[]; removed: string[] }[] = [];
  client.onStatus((changed, removed) => events.push({ changed: changed.map((status) => status.name), removed }));
  return events;
}

describe("FakeNodeClient controls", () => {
  it("applies the set synchronously: statuses are current when sync resolves, with the clock's times and fresh host ports", async () => {
    const clock = new ManualClock();
    const client = new FakeNodeClient({ clock, firstHostPort: 41_000, capacity: { cpuMillis: 2_000, memoryBytes: 1024 }, runtimes: ["process", "docker"] });
    const events = recorder(client);
    await client.sync([pod("a"), pod("b", { image: "nginx:1" })]);
    const statuses = client.statuses();
    expect(named(statuses, "a")).toMatchObject({ phase: "Running", ready: true, startTime: clock.now().toISOString() });
    expect(named(statuses, "a").containerStatuses[0]).toMatchObject({ runtime: "process", ports: { http: 41_000 } });
    expect(named(statuses, "b").containerStatuses[0]).toMatchObject({ runtime: "docker", ports: { http: 41_001 } });
    expect(events).toEqual([{ changed: ["a", "b"], removed: [] }]);
    expect(client.state()).toMatchObject({ node: "fake-node", connected: true, lastHeartbeat: clock.now(), info: { capacity: { cpuMillis: 2_000, memoryBytes: 1024 }, runtimes: ["process", "docker"] } });

    await client.sync([pod("a"), pod("b", { image: "nginx:1" })]);
    expect(events).toHaveLength(1);
  });

  it("replaces a pod whose spec changed under the same uid", async () => {
    const clock = new ManualClock();
    const client = new FakeNodeClient({ clock });
    await client.sync([pod("a")]);
    const before = client.statuses()[0]!;
    await clock.advance(5_000);
    await client.sync([pod("a", { containers: ["main", "helper"] })]);
    const after = client.statuses()[0]!;
    expect(after.uid).toBe(before.uid);
    expect(after.startTime).not.toBe(before.startTime);
    expect(after.containerStatuses.map((container) => container.name)).toEqual(["main", "helper"]);
    expect(after.containerStatuses[0]!.ports.http).not.toBe(before.containerStatuses[0]!.ports.http);
  });

  it("leaves a container waiting, and the pod Pending, where a real node could not start it", async () => {
    const client = new FakeNodeClient({ clock: systemClock });
    await client.sync([pod("img", { image: "nginx:1" })]);
    const status = client.statuses()[0]!;
    expect(status).toMatchObject({ phase: "Pending", ready: false });
    expect(status.containerStatuses[0]!.state).toEqual({ waiting: { reason: "RuntimeUnavailable", message: expect.stringContaining("needs docker or podman") } });
  });

  it("while disconnected: keeps the last view, rejects sync and logs, remembers the set and applies it on reconnect", async () => {
    const client = new FakeNodeClient({ clock: systemClock });
    const states: NodeLinkState[] = [];
    client.onState((state) => states.push(state));
    await client.sync([pod("a"), pod("b")]);
    const events = recorder(client);

    client.disconnect("cable cut");
    expect(client.state()).toMatchObject({ connected: false, lastError: { message: "cable cut" } });
    await expect(client.sync([pod("b"), pod("c")])).rejects.toBeInstanceOf(NodeNotConnectedError);
    await expect(client.logs({ namespace: "default", name: "a", follow: false }, () => undefined)).rejects.toBeInstanceOf(NodeNotConnectedError);
    expect(client.statuses().map((status) => status.name).sort()).toEqual(["a", "b"]);
    // What happens on the node meanwhile is not heard of until the link is back.
    client.crash("default", "b", 1);
    expect(named(client.statuses(), "b").containerStatuses[0]!.restartCount).toBe(0);
    expect(events).toEqual([]);

    client.reconnect();
    expect(client.state()).toMatchObject({ connected: true, reconnects: 1 });
    expect(client.state().lastError).toBeUndefined();
    expect(client.statuses().map((status) => status.name).sort()).toEqual(["b", "c"]);
    expect(named(client.statuses(), "b").containerStatuses[0]!.restartCount).toBe(1);
    expect(events).toEqual([
      { changed: ["a", "b"], removed: [] },
      { changed: ["c"], removed: ["uid-a"] },
    ]);
    expect(states.map((state) => state.connected)).toEqual([false, true]);
  });

  it("while disconnected: remembers the Services and applies them on reconnect", async () => {
    const client = new FakeNodeClient({ node: "n", clock: new ManualClock() });
    const web = { namespace: "default", name: "web", headless: false, ports: [{ port: 30080, endpoints: [{ address: "10.0.0.1", port: 31000 }] }] };
    await client.syncServices([web]);
    expect(client.services()).toEqual([web]);
    client.disconnect();
    await expect(client.syncServices([])).rejects.toBeInstanceOf(NodeNotConnectedError);
    expect(client.services()).toEqual([web]);
    client.reconnect();
    expect(client.services()).toEqual([]);
    await (await client.occupyPort(30080))();
  });

  it("crash: terminated into lastState, restartCount up, running again under restartPolicy Always", async () => {
    const clock = new ManualClock();
    const client = new FakeNodeClient({ clock });
    await client.sync([pod("a")]);
    const startedAt = clock.now().toISOString();
    await clock.advance(1_000);
    client.crash("default", "a", 137);
    const status = client.statuses()[0]!;
    expect(status).toMatchObject({ phase: "Running", ready: true, startTime: startedAt });
    expect(status.containerStatuses[0]).toMatchObject({
      restartCount: 1,
      ready: true,
      state: { running: { startedAt: clock.now().toISOString() } },
      lastState: { terminated: { exitCode: 137, reason: "Error", startedAt, finishedAt: clock.now().toISOString() } },
    });
    expect(() => client.crash("default", "nobody", 1)).toThrow(NotFoundError);
  });

  it("crash under restartPolicy Never/OnFailure ends the pod Failed or Succeeded", async () => {
    const client = new FakeNodeClient({ clock: systemClock });
    await client.sync([pod("never", { restartPolicy: "Never" }), pod("job", { restartPolicy: "OnFailure" })]);
    client.crash("default", "never", 2);
    client.crash("default", "job", 1);
    expect(named(client.statuses(), "never")).toMatchObject({ phase: "Failed", ready: false });
    expect(named(client.statuses(), "job")).toMatchObject({ phase: "Running", ready: true });
    client.crash("default", "job", 0);
    const job = named(client.statuses(), "job");
    expect(job).toMatchObject({ phase: "Succeeded", ready: false });
    expect(job.containerStatuses[0]).toMatchObject({ restartCount: 1, ready: false, state: { terminated: { exitCode: 0, reason: "Completed" } } });
  });

  it("setReady flips the readiness of a pod or one of its containers", async () => {
    const client = new FakeNodeClient({ clock: systemClock });
    await client.sync([pod("a", { containers: ["main", "helper"] })]);
    const events = recorder(client);
    client.setReady("default", "a", false, "helper");
    let status = client.statuses()[0]!;
    expect(status.ready).toBe(false);
    expect(status.containerStatuses.map((container) => container.ready)).toEqual([true, false]);
    client.setReady("default", "a", true);
    status = client.statuses()[0]!;
    expect(status.ready).toBe(true);
    expect(events).toHaveLength(2);
  });

  it("follows a log: the tail, then appended text until aborted; several containers need a choice", async () => {
    const client = new FakeNodeClient({ clock: systemClock });
    await client.sync([pod("a"), pod("two", { containers: ["main", "helper"] })]);
    client.setLogs("default", "a", "main", "one\ntwo\nthree\n");
    let text = "";
    await client.logs({ namespace: "default", name: "a", tailLines: 2, follow: false }, (_container, chunk) => (text += chunk));
    expect(text).toBe("two\nthree\n");

    const abort = new AbortController();
    const chunks: string[] = [];
    const following = client.logs({ namespace: "default", name: "a", tailLines: 1, follow: true }, (container, chunk) => chunks.push(`${container}:${chunk}`), abort.signal);
    client.appendLogs("default", "a", "main", "four\n");
    abort.abort();
    await following;
    client.appendLogs("default", "a", "main", "five\n");
    expect(chunks).toEqual(["main:three\n", "main:four\n"]);

    await expect(client.logs({ namespace: "default", name: "two", follow: false }, () => undefined)).rejects.toThrow(/several containers/);
  });

  it("starts disconnected when asked, without info until the link is up", async () => {
    const client = new FakeNodeClient({ clock: systemClock, connected: false });
    expect(client.state().connected).toBe(false);
    expect(client.state().info).toBeUndefined();
    await expect(client.sync([pod("a")])).rejects.toBeInstanceOf(NodeNotConnectedError);
    client.reconnect();
    expect(client.state()).toMatchObject({ connected: true, reconnects: 0, info: { generation: 1 } });
    expect(client.statuses().map((status) => status.name)).toEqual(["a"]);
  });
});
