import { describe, expect, it } from "vitest";
import { assumePod, newNodeInfo, nodeAllocatable, podHostPorts, podRequests, scoringRequests } from "../../src/scheduler/index.ts";
import { GiB, MiB, pod } from "./fixtures.ts";

const container = (name: string, requests?: { cpu?: string; memory?: string }, extra: Record<string, unknown> = {}) => ({
  name,
  command: ["true"],
  ...(requests ? { resources: { requests } } : {}),
  ...extra,
});

describe("podRequests", () => {
  const cases: { name: string; spec: Record<string, unknown>; cpuMillis: number; memoryBytes: number }[] = [
    { name: "no requests at all", spec: { containers: [container("a")] }, cpuMillis: 0, memoryBytes: 0 },
    {
      name: "app containers add up",
      spec: { containers: [container("a", { cpu: "250m", memory: "64Mi" }), container("b", { cpu: "0.5", memory: "128Mi" })] },
      cpuMillis: 750,
      memoryBytes: 192 * MiB,
    },
    {
      name: "a missing request is the limit (defaulted by the schema)",
      spec: { containers: [{ name: "a", command: ["true"], resources: { limits: { cpu: "1", memory: "1Gi" } } }] },
      cpuMillis: 1000,
      memoryBytes: 1024 * MiB,
    },
    {
      name: "an init container larger than the app containers sets the peak",
      spec: { initContainers: [container("init", { cpu: "2", memory: "32Mi" })], containers: [container("a", { cpu: "500m", memory: "64Mi" })] },
      cpuMillis: 2000,
      memoryBytes: 64 * MiB,
    },
    {
      name: "init containers run one at a time: the largest counts, not the sum",
      spec: {
        initContainers: [container("one", { cpu: "1" }), container("two", { cpu: "1500m" })],
        containers: [container("a", { cpu: "100m" })],
      },
      cpuMillis: 1500,
      memoryBytes: 0,
    },
    {
      name: "a sidecar runs beside the app containers and the init containers after it",
      spec: {
        initContainers: [container("before", { cpu: "1" }), container("sidecar", { cpu: "300m" }, { restartPolicy: "Always" }), container("after", { cpu: "1" })],
        containers: [container("a", { cpu: "200m" })],
      },
      // app 200 + sidecar 300 = 500; "after" runs with the sidecar: 1300; "before" alone: 1000.
      cpuMillis: 1300,
      memoryBytes: 0,
    },
  ];
  it.each(cases)("$name", ({ spec, cpuMillis, memoryBytes }) => {
    expect(podRequests(pod("p", spec).spec)).toEqual({ cpuMillis, memoryBytes, pods: 1 });
  });

  it("counts a container without requests at 100m / 200Mi for scoring only", () => {
    const spec = pod("p", { containers: [container("a"), container("b", { cpu: "1" })] }).spec;
    expect(scoringRequests(spec)).toEqual({ cpuMillis: 1100, memoryBytes: 400 * MiB });
    expect(podRequests(spec)).toEqual({ cpuMillis: 1000, memoryBytes: 0, pods: 1 });
  });

  it("lists fixed host ports with their protocol", () => {
    const spec = pod("p", {
      containers: [container("a", undefined, { ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 53, hostPort: 53, protocol: "UDP" }, { containerPort: 9000 }] })],
    }).spec;
    expect(podHostPorts(spec)).toEqual(["8080/TCP", "53/UDP"]);
  });
});

const facts = {
  name: "n1",
  labels: {},
  taints: [],
  unschedulable: false,
  ready: true,
  runtimes: ["process" as const],
  allocatable: { cpuMillis: 4000, memoryBytes: 8 * GiB, pods: 110 },
};

describe("newNodeInfo and assumePod", () => {
  it("book a pod's requests, scoring requests, owner and summary onto the node", () => {
    const target = newNodeInfo(facts);
    assumePod(target, pod("p", { containers: [container("a", { cpu: "250m" }, { ports: [{ containerPort: 80, hostPort: 80 }] })] }, { labels: { app: "web" }, ownerUid: "rs-1" }));
    expect(target.requested).toEqual({ cpuMillis: 250, memoryBytes: 0, pods: 1 });
    expect(target.scoringRequested).toEqual({ cpuMillis: 250, memoryBytes: 200 * MiB });
    expect(target.podsPerOwner).toEqual(new Map([["rs-1", 1]]));
    expect(target.pods).toEqual([{ namespace: "default", name: "p", labels: { app: "web" }, ownerUid: "rs-1", hostPorts: ["80/TCP"] }]);
  });

  it("build a node from the pods already bound to it", () => {
    const bound = [1, 2, 3].map((index) => pod(`p${index}`, { containers: [container("a", { cpu: "1", memory: "1Gi" })] }, { ownerUid: index < 3 ? "rs-1" : "rs-2" }));
    const built = newNodeInfo(facts, bound);
    expect(built.requested).toEqual({ cpuMillis: 3000, memoryBytes: 3 * GiB, pods: 3 });
    expect(built.podsPerOwner).toEqual(new Map([["rs-1", 2], ["rs-2", 1]]));
    expect(built.pods.map((summary) => summary.name)).toEqual(["p1", "p2", "p3"]);
  });
});

describe("nodeAllocatable", () => {
  it("takes spec.capacity over the reported capacity, resource by resource, with 110 pods", () => {
    expect(nodeAllocatable({ cpu: "2" }, { cpuMillis: 8000, memoryBytes: 16 * GiB })).toEqual({ cpuMillis: 2000, memoryBytes: 16 * GiB, pods: 110 });
    expect(nodeAllocatable(undefined, { cpuMillis: 8000, memoryBytes: 16 * GiB })).toEqual({ cpuMillis: 8000, memoryBytes: 16 * GiB, pods: 110 });
  });
  it("is nothing for a node that never reported and declares no capacity", () => {
    expect(nodeAllocatable(undefined, undefined)).toEqual({ cpuMillis: 0, memoryBytes: 0, pods: 110 });
  });
});
