import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { allocateHostPorts, hostPortKey, portBindings, releaseHostPorts } from "../../../src/nodes/agent/ports.ts";
import { agentPodSchema, type AgentPod } from "../../../src/nodes/protocol.ts";

// A port nothing on the test host listens on and that these tests never bind: fixed ports are taken as given.
const fixedPort = 1;

function webPod(): AgentPod {
  return agentPodSchema.parse({
    uid: "pod-1",
    namespace: "shop",
    name: "web-0",
    spec: {
      initContainers: [
        { name: "migrate", command: ["true"], ports: [{ name: "debug", containerPort: 9229 }] },
        { name: "proxy", command: ["proxy"], restartPolicy: "Always", ports: [{ containerPort: 15001 }] },
      ],
      containers: [
        {
          name: "app",
          command: ["node", "server.js"],
          ports: [
            { name: "http", containerPort: 8080 },
            { name: "metrics", containerPort: 9090 },
            { name: "dns", containerPort: 53, protocol: "UDP" },
            { name: "fixed", containerPort: 7000, hostPort: fixedPort },
          ],
        },
        { name: "worker", command: ["node", "worker.js"], ports: [{ containerPort: 8080 }] },
      ],
    },
  });
}

const allKeys = ["migrate/debug", "proxy/15001", "app/http", "app/metrics", "app/dns", "app/fixed", "worker/8080"];

async function canListenTcp(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function canBindUdp(port: number): Promise<boolean> {
  const socket = createSocket("udp4");
  return new Promise((resolve) => {
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ port, address: "127.0.0.1", exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

describe("hostPortKey", () => {
  it("names a port by its container and its name, or its number when unnamed", () => {
    expect(hostPortKey("app", { name: "http", containerPort: 8080 })).toBe("app/http");
    expect(hostPortKey("worker", { containerPort: 8080 })).toBe("worker/8080");
  });
});

describe("allocateHostPorts", () => {
  it("gives every port of every container, init containers included, a distinct port, and honours a fixed hostPort", async () => {
    const allocations = await allocateHostPorts(webPod(), "127.0.0.1");
    expect(Object.keys(allocations).sort()).toEqual([...allKeys].sort());
    expect(allocations["app/fixed"]).toBe(fixedPort);
    const ports = Object.values(allocations);
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });

  it("hands out ports that are really free: each can be bound afterwards, TCP and UDP alike", async () => {
    const allocations = await allocateHostPorts(webPod(), "127.0.0.1");
    for (const key of allKeys.filter((key) => key !== "app/fixed" && key !== "app/dns")) {
      expect(await canListenTcp(allocations[key]!), key).toBe(true);
    }
    expect(await canBindUdp(allocations["app/dns"]!)).toBe(true);
  });

  it("keeps existing allocations, so ports stay stable for the pod's life across agent restarts", async () => {
    const first = await allocateHostPorts(webPod(), "127.0.0.1");
    const again = await allocateHostPorts(webPod(), "127.0.0.1", first);
    expect(again).toEqual(first);
  });

  it("allocates only what is missing from the existing allocations, never reusing one of them", async () => {
    const existing = { "app/http": 45123, "worker/8080": 45124 };
    const allocations = await allocateHostPorts(webPod(), "127.0.0.1", existing);
    expect(allocations["app/http"]).toBe(45123);
    expect(allocations["worker/8080"]).toBe(45124);
    const ports = Object.values(allocations);
    expect(new Set(ports).size).toBe(ports.length);
  });

  it("lets a fixed hostPort win over an existing allocation, and never hands a fixed port to another container", async () => {
    const allocations = await allocateHostPorts(webPod(), "127.0.0.1", { "app/fixed": 45200, "app/metrics": fixedPort });
    expect(allocations["app/fixed"]).toBe(fixedPort);
    expect(allocations["app/metrics"]).not.toBe(fixedPort);
  });

  it("ignores existing allocations of ports the pod does not have", async () => {
    const allocations = await allocateHostPorts(webPod(), "127.0.0.1", { "gone/http": 45300 });
    expect(allocations["gone/http"]).toBeUndefined();
  });

  it.each(["203.0.113.9", "node-a.example.invalid"])(
    "probes every address when the node's address %s is not one of this host's",
    async (hostIP) => {
      const allocations = await allocateHostPorts(webPod(), hostIP);
      expect(Object.keys(allocations).sort()).toEqual([...allKeys].sort());
      expect(await canListenTcp(allocations["app/http"]!)).toBe(true);
    },
  );

  it("allocates nothing for a pod without ports", async () => {
    const pod = agentPodSchema.parse({ uid: "pod-2", namespace: "shop", name: "quiet", spec: { containers: [{ name: "app", command: ["sleep", "1"] }] } });
    expect(await allocateHostPorts(pod, "127.0.0.1")).toEqual({});
  });
});

describe("portBindings", () => {
  it("lists a container's ports with their host ports and protocols", () => {
    const pod = webPod();
    const app = pod.spec.containers[0]!;
    const hostPorts = { "app/http": 41001, "app/metrics": 41002, "app/dns": 41003, "app/fixed": fixedPort };
    expect(portBindings(app, hostPorts)).toEqual([
      { name: "http", containerPort: 8080, hostPort: 41001, protocol: "TCP" },
      { name: "metrics", containerPort: 9090, hostPort: 41002, protocol: "TCP" },
      { name: "dns", containerPort: 53, hostPort: 41003, protocol: "UDP" },
      { name: "fixed", containerPort: 7000, hostPort: fixedPort, protocol: "TCP" },
    ]);
    expect(portBindings(pod.spec.containers[1]!, { "worker/8080": 41004 })).toEqual([{ containerPort: 8080, hostPort: 41004, protocol: "TCP" }]);
  });

  it("refuses a port that was never allocated (a caller's mistake, not the pod's)", () => {
    expect(() => portBindings(webPod().spec.containers[0]!, {})).toThrow("no host port allocated for app/http");
  });
});

describe("ports held across the pods of one agent", () => {
  it("never hands a port held by one pod to another, until the first releases it", async () => {
    const pods = Array.from({ length: 40 }, (_, index) =>
      agentPodSchema.parse({
        uid: `held-${index}`,
        namespace: "default",
        name: `held-${index}`,
        spec: { containers: [{ name: "main", command: ["true"], ports: [{ name: "a", containerPort: 80 }, { name: "b", containerPort: 81 }] }] },
      }),
    );
    const allocations = await Promise.all(pods.map((pod) => allocateHostPorts(pod, "127.0.0.1")));
    const ports = allocations.flatMap((allocation) => Object.values(allocation));
    expect(new Set(ports).size).toBe(ports.length);
    for (const pod of pods) releaseHostPorts(pod.uid);
  });

  it("moves a pod off a port another pod holds, and lets it have the port once released", async () => {
    const pod = (uid: string) =>
      agentPodSchema.parse({ uid, namespace: "default", name: uid, spec: { containers: [{ name: "main", command: ["true"], ports: [{ name: "a", containerPort: 80 }] }] } });
    const first = await allocateHostPorts(pod("first"), "127.0.0.1");
    const port = first["main/a"]!;
    const second = await allocateHostPorts(pod("second"), "127.0.0.1", { "main/a": port });
    expect(second["main/a"]).not.toBe(port);
    releaseHostPorts("first");
    releaseHostPorts("second");
    expect(await allocateHostPorts(pod("third"), "127.0.0.1", { "main/a": port })).toEqual({ "main/a": port });
    releaseHostPorts("third");
  });
});
