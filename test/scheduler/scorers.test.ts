import { describe, expect, it } from "vitest";
import { alreadyPercent, minMax, reverseScaleToMax, scaleToMax } from "../../src/scheduler/normalize.ts";
import { leastAllocatedScorer } from "../../src/scheduler/scorers/least-allocated.ts";
import { mostAllocatedScorer } from "../../src/scheduler/scorers/most-allocated.ts";
import { nodeAffinityScorer } from "../../src/scheduler/scorers/node-affinity.ts";
import { ownerSpreadScorer } from "../../src/scheduler/scorers/owner-spread.ts";
import { podAffinityScorer } from "../../src/scheduler/scorers/pod-affinity.ts";
import { taintTolerationScorer } from "../../src/scheduler/scorers/taint-toleration.ts";
import type { NodeInfo } from "../../src/scheduler/index.ts";
import { GiB, MiB, node, normalisedScores, pod, rawScores, requesting } from "./fixtures.ts";

const used = (name: string, cpuMillis: number, memoryBytes: number) =>
  node(name, { allocatable: { cpuMillis: 4000, memoryBytes: 8 * GiB, pods: 110 }, requested: { cpuMillis, memoryBytes, pods: 0 } });

describe("normalisation to 0–100", () => {
  const cases: { name: string; normalize: (scores: Float64Array, count: number) => void; raw: number[]; expected: number[] }[] = [
    { name: "already a percentage", normalize: alreadyPercent, raw: [10, 55.5], expected: [10, 55.5] },
    { name: "scale to max", normalize: scaleToMax, raw: [0, 5, 10], expected: [0, 50, 100] },
    { name: "scale to max, all zero", normalize: scaleToMax, raw: [0, 0], expected: [0, 0] },
    { name: "reverse scale to max", normalize: reverseScaleToMax, raw: [0, 1, 4], expected: [100, 75, 0] },
    { name: "reverse scale to max, all zero", normalize: reverseScaleToMax, raw: [0, 0], expected: [100, 100] },
    { name: "min-max over signed scores", normalize: minMax, raw: [-10, 0, 30], expected: [0, 25, 100] },
    { name: "min-max, all equal", normalize: minMax, raw: [7, 7], expected: [0, 0] },
  ];
  it.each(cases)("$name", ({ normalize, raw, expected }) => {
    // One spare slot past `count` shows that only the feasible prefix is touched.
    const scores = Float64Array.from([...raw, -1]);
    normalize(scores, raw.length);
    expect([...scores]).toEqual([...expected, -1]);
  });
});

describe("leastAllocated", () => {
  it("ranks by the free share of cpu and memory left after placing the pod", () => {
    const nodes = [used("empty", 0, 0), used("half", 2000, 4 * GiB), used("cpu-heavy", 3000, 0)];
    expect(normalisedScores(leastAllocatedScorer, requesting("p", { cpu: "1", memory: "2Gi" }), nodes)).toEqual({
      empty: 75, // cpu 75% free, memory 75% free
      half: 25, // 25%, 25%
      "cpu-heavy": 37.5, // 0%, 75%
    });
  });

  it("counts pods without requests at 100m / 200Mi, against the node's scoring totals", () => {
    const busy = node("busy", { scoringRequested: { cpuMillis: 1900, memoryBytes: 4 * GiB - 200 * MiB } });
    const idle = node("idle");
    const scores = rawScores(leastAllocatedScorer, pod("p"), [busy, idle])!;
    expect(scores.busy).toBeCloseTo(50);
    expect(scores.idle).toBeGreaterThan(95);
  });
});

describe("mostAllocated", () => {
  it("ranks by the used share after placing the pod", () => {
    const nodes = [used("empty", 0, 0), used("half", 2000, 4 * GiB)];
    expect(normalisedScores(mostAllocatedScorer, requesting("p", { cpu: "1", memory: "2Gi" }), nodes)).toEqual({ empty: 25, half: 75 });
  });
});

describe("ownerSpread", () => {
  const sibling = (name: string) => ({ namespace: "default", name, labels: {}, ownerUid: "rs-1" });
  const stranger = { namespace: "default", name: "x", labels: {}, ownerUid: "rs-2" };
  const nodes: NodeInfo[] = [
    node("none", { pods: [stranger] }),
    node("one", { pods: [sibling("a")] }),
    node("two", { pods: [sibling("b"), sibling("c"), stranger] }),
  ];
  it("prefers nodes with fewer pods of the same owner", () => {
    expect(normalisedScores(ownerSpreadScorer, pod("p", {}, { ownerUid: "rs-1" }), nodes)).toEqual({ none: 100, one: 50, two: 0 });
  });
  it("skips a pod without an owner", () => {
    expect(normalisedScores(ownerSpreadScorer, pod("p"), nodes)).toBeUndefined();
  });
});

describe("nodeAffinity (preferred)", () => {
  const preferring = pod("p", {
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 80, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["eu"] }] } },
          { weight: 20, preference: { matchExpressions: [{ key: "disk", operator: "In", values: ["ssd"] }] } },
        ],
      },
    },
  });
  it("sums the weights of the preferences a node satisfies, scaled to the best", () => {
    const nodes = [node("both", { labels: { zone: "eu", disk: "ssd" } }), node("zone", { labels: { zone: "eu" } }), node("disk", { labels: { disk: "ssd" } }), node("neither")];
    expect(rawScores(nodeAffinityScorer, preferring, nodes)).toEqual({ both: 100, zone: 80, disk: 20, neither: 0 });
    expect(normalisedScores(nodeAffinityScorer, preferring, nodes.slice(1))).toEqual({ zone: 100, disk: 25, neither: 0 });
  });
  it("skips a pod without preferences", () => {
    expect(rawScores(nodeAffinityScorer, pod("p"), [node("a")])).toBeUndefined();
  });
});

describe("taintToleration (PreferNoSchedule)", () => {
  const soft = (key: string) => ({ key, effect: "PreferNoSchedule" as const });
  const nodes = [node("clean"), node("one", { taints: [soft("a")] }), node("two", { taints: [soft("a"), soft("b"), { key: "hard", effect: "NoSchedule" }] })];
  it("prefers nodes with fewer untolerated PreferNoSchedule taints", () => {
    expect(normalisedScores(taintTolerationScorer, pod("p"), nodes)).toEqual({ clean: 100, one: 50, two: 0 });
  });
  it("counts only tolerations without an effect or with PreferNoSchedule", () => {
    const tolerant = pod("p", { tolerations: [{ key: "a", operator: "Exists" }, { key: "b", operator: "Exists", effect: "NoSchedule" }] });
    expect(rawScores(taintTolerationScorer, tolerant, nodes)).toEqual({ clean: 0, one: 0, two: 1 });
  });
});

describe("podAffinity (preferred)", () => {
  const cache = { namespace: "default", name: "cache", labels: { app: "cache" } };
  const web = { namespace: "default", name: "web", labels: { app: "web" } };
  const term = (app: string, topologyKey = "kubernetes.io/hostname") => ({ labelSelector: { matchLabels: { app } }, topologyKey });
  const preferring = pod("p", {
    affinity: {
      podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, podAffinityTerm: term("cache") }] },
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 5, podAffinityTerm: term("web") }] },
    },
  });
  it("adds weight per matching pod for affinity, takes it away for anti-affinity, then min-max", () => {
    const nodes = [node("cache", { pods: [cache] }), node("empty"), node("webs", { pods: [web, { ...web, name: "web-2" }] })];
    expect(rawScores(podAffinityScorer, preferring, nodes)).toEqual({ cache: 10, empty: 0, webs: -10 });
    expect(normalisedScores(podAffinityScorer, preferring, nodes)).toEqual({ cache: 100, empty: 50, webs: 0 });
  });
  it("counts pods across the whole topology domain", () => {
    const zonal = pod("p", { affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: term("cache", "zone") }] } } });
    const nodes = [node("eu-1", { labels: { zone: "eu" } }), node("eu-2", { labels: { zone: "eu" }, pods: [cache] }), node("us-1", { labels: { zone: "us" } })];
    expect(rawScores(podAffinityScorer, zonal, nodes)).toEqual({ "eu-1": 1, "eu-2": 1, "us-1": 0 });
  });
});
