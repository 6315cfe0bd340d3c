/**
 * The scheduling core alone: 30,000 pods decided one after another onto
 * 1,000 in-memory nodes, each decision booked onto its node (assumePod)
 * before the next, as the scheduling loop does. Mixed requests, ~10-pod
 * owners, some nodeSelector / node affinity, some tolerations for tainted
 * nodes, some image pods, a few with hostname anti-affinity. Goal: at least
 * 2,000 pods/s. Prints one JSON line.
 */
import { podSpecSchema } from "../src/desired/index.ts";
import { assumePod, defaultStack, newNodeInfo, schedule, type NodeInfo, type PodToSchedule } from "../src/scheduler/index.ts";

const nodeCount = Number(process.env.BENCH_NODES ?? 1_000);
const podCount = Number(process.env.BENCH_PODS ?? 30_000);
const strategy = process.env.BENCH_STRATEGY === "binpack" ? "binpack" : "spread";
const goalPodsPerSecond = 2_000;

// A fixed seed: every run decides the same cluster.
let seed = 0x5eed;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;

const GiB = 2 ** 30;
const zones = ["eu-1", "eu-2", "us-1"];

function makeNode(index: number): NodeInfo {
  const cores = pick([16, 32, 32, 64]);
  const taints: NodeInfo["taints"] = [];
  if (index % 10 === 0) taints.push({ key: "dedicated", value: "gpu", effect: "NoSchedule" });
  if (index % 20 === 5) taints.push({ key: "spot", effect: "PreferNoSchedule" });
  return newNodeInfo({
    name: `node-${String(index).padStart(4, "0")}`,
    labels: { zone: zones[index % zones.length]!, disk: index % 3 === 0 ? "ssd" : "hdd", ...(index % 10 === 0 ? { gpu: "a100" } : {}) },
    taints,
    unschedulable: index % 97 === 0,
    ready: index % 101 !== 0,
    runtimes: index % 4 === 0 ? ["process"] : ["process", "docker"],
    allocatable: { cpuMillis: cores * 1000, memoryBytes: cores * 4 * GiB, pods: 110 },
  });
}

function makePod(index: number): PodToSchedule {
  const owner = Math.floor(index / 10);
  const kind = owner % 20;
  const container: Record<string, unknown> = {
    name: "main",
    ...(owner % 3 === 0 ? { image: "registry.example/app:1" } : { command: ["node", "app.js"] }),
  };
  if (kind !== 19) {
    container.resources = { requests: { cpu: pick(["100m", "250m", "500m", "1", "2"]), memory: pick(["128Mi", "256Mi", "512Mi", "1Gi", "4Gi"]) } };
  }
  const spec: Record<string, unknown> = { containers: [container] };
  if (kind < 4) spec.nodeSelector = { zone: zones[owner % zones.length]! };
  if (kind === 4) {
    spec.affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "disk", operator: "In", values: ["ssd"] }] }] },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["eu-1"] }] } }],
      },
    };
  }
  if (kind === 5 || kind === 6) {
    spec.tolerations = [{ key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" }];
    if (kind === 5) spec.nodeSelector = { gpu: "a100" };
  }
  if (kind === 7) spec.tolerations = [{ key: "spot", operator: "Exists" }];
  if (kind === 8 && owner % 5 === 0) {
    spec.affinity = {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: `app-${owner}` } }, topologyKey: "kubernetes.io/hostname" }],
      },
    };
  }
  return {
    namespace: `team-${owner % 7}`,
    name: `app-${owner}-${index % 10}`,
    labels: { app: `app-${owner}`, tier: pick(["web", "worker", "batch"]) },
    ownerUid: `uid-${owner}`,
    spec: podSpecSchema.parse(spec),
  };
}

const nodes = Array.from({ length: nodeCount }, (_, index) => makeNode(index));
const byName = new Map(nodes.map((node) => [node.name, node]));
const pods = Array.from({ length: podCount }, (_, index) => makePod(index));
const stack = defaultStack({ strategy });

// Warm the JIT on a copy, so the figures are the steady state a running control plane sees.
{
  const warmNodes = nodes.map((node) => newNodeInfo(node));
  const warmByName = new Map(warmNodes.map((node) => [node.name, node]));
  for (const pod of pods.slice(0, 500)) {
    const result = schedule(pod, warmNodes, stack);
    if (result.node) assumePod(warmByName.get(result.node)!, pod);
  }
}

const latencies = new Float64Array(podCount);
let unschedulable = 0;
const cpuBefore = process.cpuUsage();
const started = performance.now();
for (let index = 0; index < podCount; index++) {
  const pod = pods[index]!;
  const before = performance.now();
  const result = schedule(pod, nodes, stack);
  if (result.node) assumePod(byName.get(result.node)!, pod);
  else unschedulable++;
  latencies[index] = performance.now() - before;
}
const seconds = (performance.now() - started) / 1000;
const cpuUsed = process.cpuUsage(cpuBefore);
// On a shared machine the wall clock includes time this process waited for a core; CPU time says what the work cost.
const cpuSeconds = (cpuUsed.user + cpuUsed.system) / 1e6;

latencies.sort();
const round = (value: number) => Math.round(value * 1000) / 1000;
const podsPerSecond = Math.round(podCount / seconds);
const busiest = Math.max(...nodes.map((node) => node.requested.pods));
process.stdout.write(
  `${JSON.stringify({
    bench: "scheduler",
    strategy,
    nodes: nodeCount,
    pods: podCount,
    scheduled: podCount - unschedulable,
    unschedulable,
    seconds: Math.round(seconds * 100) / 100,
    cpuSeconds: Math.round(cpuSeconds * 100) / 100,
    podsPerSecond,
    podsPerCpuSecond: Math.round(podCount / cpuSeconds),
    p50Ms: round(latencies[Math.floor(podCount * 0.5)]!),
    p99Ms: round(latencies[Math.floor(podCount * 0.99)]!),
    maxMs: round(latencies[podCount - 1]!),
    mostPodsOnANode: busiest,
    goalPodsPerSecond,
    goalMet: podsPerSecond >= goalPodsPerSecond,
  })}\n`,
);
