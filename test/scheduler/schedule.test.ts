import { describe, expect, it } from "vitest";
import { assumePod, defaultStack, describeReasons, schedule, type NodeInfo, type PodToSchedule } from "../../src/scheduler/index.ts";
import { GiB, node, pod, requesting } from "./fixtures.ts";

/** Schedules pods one after another, booking each onto its node as the caller would; returns the node per pod. */
function scheduleInTurn(pods: PodToSchedule[], nodes: NodeInfo[], stack = defaultStack()): (string | undefined)[] {
  return pods.map((subject) => {
    const result = schedule(subject, nodes, stack);
    if (result.node) assumePod(nodes.find((candidate) => candidate.name === result.node)!, subject);
    return result.node;
  });
}

function countBy(names: (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) counts[name ?? "(none)"] = (counts[name ?? "(none)"] ?? 0) + 1;
  return counts;
}

describe("schedule", () => {
  it("says why no node fits, most common reason first", () => {
    const full = (name: string) => node(name, { requested: { cpuMillis: 0, memoryBytes: 7.5 * GiB, pods: 3 } });
    const nodes = [full("a"), node("db", { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] }), full("c")];
    const result = schedule(requesting("web", { memory: "1Gi" }), nodes);
    expect(result).toEqual({
      feasibleNodes: 0,
      reasons: { "Insufficient memory": 2, "node(s) had untolerated taint {dedicated: db}": 1 },
      message: "0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}.",
    });
  });

  it("counts each node once, for the first filter in the stack's order that rejects it", () => {
    const nodes = [node("a", { ready: false, unschedulable: true }), node("b", { unschedulable: true, taints: [{ key: "k", effect: "NoSchedule" }] })];
    expect(schedule(pod("p"), nodes).message).toBe("0/2 nodes are available: 1 node(s) were not ready, 1 node(s) were unschedulable.");
  });

  it("skips nodes that are not ready", () => {
    const nodes = [node("a", { ready: false }), node("b"), node("c", { ready: false })];
    const result = schedule(pod("p"), nodes);
    expect(result.node).toBe("b");
    expect(result.reasons).toEqual({ "node(s) were not ready": 2 });
    expect(result.message).toBe("Successfully assigned default/p to b");
  });

  it("places a pod tolerating not-ready on a node that is not ready", () => {
    const tolerant = pod("agent", { tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists" }] });
    expect(schedule(tolerant, [node("a", { ready: false })]).node).toBe("a");
  });

  it("spreads 6 pods of one owner over 3 equal nodes 2/2/2", () => {
    const nodes = [node("a"), node("b"), node("c")];
    const replicas = Array.from({ length: 6 }, (_, index) => requesting(`web-${index}`, { cpu: "100m", memory: "64Mi" }, {}, { ownerUid: "rs-web" }));
    expect(countBy(scheduleInTurn(replicas, nodes))).toEqual({ a: 2, b: 2, c: 2 });
  });

  it("spreads replicas even when they request nothing (scored at 100m / 200Mi)", () => {
    const nodes = ["a", "b", "c"].map((name) => node(name));
    const bare = Array.from({ length: 6 }, (_, index) => pod(`bare-${index}`));
    expect(countBy(scheduleInTurn(bare, nodes))).toEqual({ a: 2, b: 2, c: 2 });
  });

  it("spreads replicas apart even onto a busier node", () => {
    const nodes = [node("a", { requested: { cpuMillis: 2000, memoryBytes: 0, pods: 1 } }), node("b")];
    const replicas = [0, 1].map((index) => requesting(`web-${index}`, { cpu: "100m" }, {}, { ownerUid: "rs-web" }));
    expect(scheduleInTurn(replicas, nodes)).toEqual(["b", "a"]);
  });

  it("binpack fills one node before the next", () => {
    const nodes = [node("a"), node("b"), node("c")];
    const pods = Array.from({ length: 6 }, (_, index) => requesting(`job-${index}`, { cpu: "1", memory: "1Gi" }, {}, { ownerUid: "job" }));
    expect(scheduleInTurn(pods, nodes, defaultStack({ strategy: "binpack" }))).toEqual(["a", "a", "a", "a", "b", "b"]);
  });

  it("binpack prefers the fuller of two nodes that fit", () => {
    const nodes = [node("a", { requested: { cpuMillis: 1000, memoryBytes: GiB, pods: 1 } }), node("b", { requested: { cpuMillis: 3000, memoryBytes: 4 * GiB, pods: 3 } })];
    expect(schedule(requesting("p", { cpu: "500m" }), nodes, defaultStack({ strategy: "binpack" })).node).toBe("b");
    expect(schedule(requesting("p", { cpu: "500m" }), nodes).node).toBe("a");
  });

  it("nodeName bypasses scoring but still checks that the pod fits", () => {
    const nodes = [node("a"), node("b"), node("c", { requested: { cpuMillis: 3500, memoryBytes: 0, pods: 9 } })];
    const pinned = schedule(requesting("p", { cpu: "500m" }, { nodeName: "c" }), nodes);
    expect(pinned).toEqual({
      node: "c",
      feasibleNodes: 1,
      reasons: { "node(s) didn't match the requested node name": 2 },
      message: "Successfully assigned default/p to c",
    });
    expect(schedule(requesting("p", { cpu: "1" }, { nodeName: "c" }), nodes).message).toBe(
      "0/3 nodes are available: 2 node(s) didn't match the requested node name, 1 Insufficient cpu.",
    );
  });

  it("keeps replicas with required hostname anti-affinity on separate nodes", () => {
    const antiAffinity = {
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: "db" } }, topologyKey: "kubernetes.io/hostname" }],
        },
      },
    };
    const replicas = [0, 1, 2].map((index) => pod(`db-${index}`, antiAffinity, { labels: { app: "db" } }));
    const nodes = [node("a"), node("b")];
    expect(scheduleInTurn(replicas.slice(0, 2), nodes).sort()).toEqual(["a", "b"]);
    expect(schedule(replicas[2]!, nodes).message).toBe("0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.");
  });

  it("avoids a PreferNoSchedule node while another fits, and uses it when none does", () => {
    const soft = node("a", { taints: [{ key: "spot", effect: "PreferNoSchedule" }] });
    const busy = node("b", { requested: { cpuMillis: 3000, memoryBytes: 6 * GiB, pods: 20 } });
    expect(schedule(requesting("p", { cpu: "500m" }), [soft, busy]).node).toBe("b");
    expect(schedule(requesting("p", { cpu: "2" }), [soft, busy]).node).toBe("a");
  });

  it("follows preferred node affinity over a little more free room", () => {
    const preferEu = {
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["eu"] }] } }],
        },
      },
    };
    const nodes = [node("us"), node("eu", { labels: { zone: "eu" }, requested: { cpuMillis: 1000, memoryBytes: GiB, pods: 2 } })];
    expect(schedule(requesting("p", { cpu: "100m" }, preferEu), nodes).node).toBe("eu");
  });

  it("breaks ties by node name, or at random when a random source is injected", () => {
    const nodes = [node("c"), node("a"), node("b")];
    expect(schedule(pod("p"), nodes).node).toBe("a");
    const fromSequence = (...values: number[]) => () => values.shift() ?? 0;
    // Reservoir sampling: the second tied node replaces the first when random() * 2 < 1, the third when random() * 3 < 1.
    expect(schedule(pod("p"), nodes, undefined, { random: fromSequence(0.9, 0.9) }).node).toBe("c");
    expect(schedule(pod("p"), nodes, undefined, { random: fromSequence(0.1, 0.9) }).node).toBe("a");
    expect(schedule(pod("p"), nodes, undefined, { random: fromSequence(0.9, 0.1) }).node).toBe("b");
  });

  it("records the best nodes' scores, the chosen one first, with each scorer's part", () => {
    const nodes = [node("a", { requested: { cpuMillis: 2000, memoryBytes: 4 * GiB, pods: 1 } }), node("b"), node("c", { requested: { cpuMillis: 1000, memoryBytes: 2 * GiB, pods: 1 } }), node("d")];
    const result = schedule(requesting("p", { cpu: "1", memory: "2Gi" }), nodes, undefined, { recordScores: 3 });
    expect(result.node).toBe("b");
    expect(result.scores).toEqual([
      { node: "b", total: 375, parts: { leastAllocated: 75, taintToleration: 100 } },
      { node: "d", total: 375, parts: { leastAllocated: 75, taintToleration: 100 } },
      { node: "c", total: 350, parts: { leastAllocated: 50, taintToleration: 100 } },
    ]);
    expect(schedule(pod("p"), nodes, undefined, { recordScores: 0 }).scores).toBeUndefined();
  });

  it("leaves its inputs unchanged", () => {
    const nodes = [node("a"), node("b")];
    const before = structuredClone(nodes);
    schedule(requesting("p", { cpu: "1" }, {}, { ownerUid: "x" }), nodes);
    expect(nodes).toEqual(before);
  });

  it("reports an empty cluster", () => {
    expect(schedule(pod("p"), [])).toEqual({ feasibleNodes: 0, reasons: {}, message: "0/0 nodes are available." });
  });
});

describe("describeReasons", () => {
  it("orders by count, then by name", () => {
    expect(describeReasons({ "Insufficient memory": 1, "Too many pods": 3, "Insufficient cpu": 1 }, 5)).toBe(
      "0/5 nodes are available: 3 Too many pods, 1 Insufficient cpu, 1 Insufficient memory.",
    );
  });
  it("counts the nodes not rejected as available", () => {
    expect(describeReasons({ "node(s) were unschedulable": 1 }, 3)).toBe("2/3 nodes are available: 1 node(s) were unschedulable.");
  });
});
