import { describe, expect, it } from "vitest";
import { nodeAffinityFilter, nodeAffinityReason } from "../../src/scheduler/filters/node-affinity.ts";
import { nodeNameFilter, nodeNameReason } from "../../src/scheduler/filters/node-name.ts";
import { hostPortsReason, nodePortsFilter } from "../../src/scheduler/filters/node-ports.ts";
import { nodeReadyFilter, notReadyReason } from "../../src/scheduler/filters/node-ready.ts";
import { nodeUnschedulableFilter, unschedulableReason } from "../../src/scheduler/filters/node-unschedulable.ts";
import { podAffinityFilter, podAffinityReason } from "../../src/scheduler/filters/pod-affinity.ts";
import { podAntiAffinityFilter, podAntiAffinityReason } from "../../src/scheduler/filters/pod-anti-affinity.ts";
import { insufficientCpuReason, insufficientMemoryReason, resourcesFitFilter, tooManyPodsReason } from "../../src/scheduler/filters/resources-fit.ts";
import { noImageRuntimeReason, runtimeFilter } from "../../src/scheduler/filters/runtime.ts";
import { taintTolerationFilter } from "../../src/scheduler/filters/taint-toleration.ts";
import type { NodeInfo, PodToSchedule } from "../../src/scheduler/index.ts";
import { GiB, node, pod, requesting, verdict } from "./fixtures.ts";

interface Case {
  name: string;
  pod: PodToSchedule;
  node: NodeInfo;
  /** The rest of the cluster, for filters that look across nodes. */
  others?: NodeInfo[];
  reason: string | undefined;
}

function table(filterName: string, filter: Parameters<typeof verdict>[0], cases: Case[]) {
  describe(filterName, () => {
    it.each(cases)("$name", (c) => {
      expect(verdict(filter, c.pod, c.node, [c.node, ...(c.others ?? [])])).toBe(c.reason);
    });
  });
}

table("nodeName", nodeNameFilter, [
  { name: "no nodeName: every node", pod: pod("p"), node: node("a"), reason: undefined },
  { name: "the named node", pod: pod("p", { nodeName: "a" }), node: node("a"), reason: undefined },
  { name: "another node", pod: pod("p", { nodeName: "b" }), node: node("a"), reason: nodeNameReason },
]);

const notReadyToleration = { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" };
table("nodeReady", nodeReadyFilter, [
  { name: "ready", pod: pod("p"), node: node("a"), reason: undefined },
  { name: "not ready", pod: pod("p"), node: node("a", { ready: false }), reason: notReadyReason },
  { name: "not ready, tolerated", pod: pod("p", { tolerations: [notReadyToleration] }), node: node("a", { ready: false }), reason: undefined },
  { name: "not ready, tolerated by a toleration of everything", pod: pod("p", { tolerations: [{ operator: "Exists" }] }), node: node("a", { ready: false }), reason: undefined },
  {
    name: "not ready, only a NoExecute toleration (how long to stay, not whether to go)",
    pod: pod("p", { tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 }] }),
    node: node("a", { ready: false }),
    reason: notReadyReason,
  },
]);

table("nodeUnschedulable", nodeUnschedulableFilter, [
  { name: "schedulable", pod: pod("p"), node: node("a"), reason: undefined },
  { name: "cordoned", pod: pod("p"), node: node("a", { unschedulable: true }), reason: unschedulableReason },
  {
    name: "cordoned, tolerated",
    pod: pod("p", { tolerations: [{ key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" }] }),
    node: node("a", { unschedulable: true }),
    reason: undefined,
  },
]);

const imagePod = pod("p", { containers: [{ name: "web", image: "nginx:1.27" }] });
table("runtime", runtimeFilter, [
  { name: "host process on a process-only node", pod: pod("p"), node: node("a"), reason: undefined },
  { name: "image on a process-only node", pod: imagePod, node: node("a"), reason: noImageRuntimeReason },
  { name: "image on a docker node", pod: imagePod, node: node("a", { runtimes: ["process", "docker"] }), reason: undefined },
  { name: "image on a podman node", pod: imagePod, node: node("a", { runtimes: ["process", "podman"] }), reason: undefined },
  {
    name: "an image init container needs a runtime too",
    pod: pod("p", { initContainers: [{ name: "init", image: "busybox" }] }),
    node: node("a"),
    reason: noImageRuntimeReason,
  },
]);

const zoned = (zone: string, extra: Record<string, string> = {}) => node("a", { labels: { zone, ...extra } });
const requiredTerms = (...terms: { key: string; operator: string; values?: string[] }[][]) => ({
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms.map((matchExpressions) => ({ matchExpressions })) } } },
});
table("nodeAffinity", nodeAffinityFilter, [
  { name: "no selector: every node", pod: pod("p"), node: node("a"), reason: undefined },
  { name: "nodeSelector matches", pod: pod("p", { nodeSelector: { zone: "eu" } }), node: zoned("eu"), reason: undefined },
  { name: "nodeSelector value differs", pod: pod("p", { nodeSelector: { zone: "eu" } }), node: zoned("us"), reason: nodeAffinityReason },
  { name: "nodeSelector label missing", pod: pod("p", { nodeSelector: { zone: "eu" } }), node: node("a"), reason: nodeAffinityReason },
  { name: "nodeSelector needs every label", pod: pod("p", { nodeSelector: { zone: "eu", disk: "ssd" } }), node: zoned("eu"), reason: nodeAffinityReason },
  { name: "In", pod: pod("p", requiredTerms([{ key: "zone", operator: "In", values: ["eu", "us"] }])), node: zoned("us"), reason: undefined },
  { name: "In, no match", pod: pod("p", requiredTerms([{ key: "zone", operator: "In", values: ["eu"] }])), node: zoned("us"), reason: nodeAffinityReason },
  { name: "NotIn holds for a missing label", pod: pod("p", requiredTerms([{ key: "zone", operator: "NotIn", values: ["eu"] }])), node: node("a"), reason: undefined },
  { name: "NotIn", pod: pod("p", requiredTerms([{ key: "zone", operator: "NotIn", values: ["eu"] }])), node: zoned("eu"), reason: nodeAffinityReason },
  { name: "Exists", pod: pod("p", requiredTerms([{ key: "gpu", operator: "Exists" }])), node: zoned("eu", { gpu: "" }), reason: undefined },
  { name: "Exists, absent", pod: pod("p", requiredTerms([{ key: "gpu", operator: "Exists" }])), node: zoned("eu"), reason: nodeAffinityReason },
  { name: "DoesNotExist", pod: pod("p", requiredTerms([{ key: "gpu", operator: "DoesNotExist" }])), node: zoned("eu"), reason: undefined },
  { name: "DoesNotExist, present", pod: pod("p", requiredTerms([{ key: "gpu", operator: "DoesNotExist" }])), node: zoned("eu", { gpu: "a100" }), reason: nodeAffinityReason },
  { name: "Gt compares integers", pod: pod("p", requiredTerms([{ key: "cores", operator: "Gt", values: ["8"] }])), node: zoned("eu", { cores: "16" }), reason: undefined },
  { name: "Gt, equal is not greater", pod: pod("p", requiredTerms([{ key: "cores", operator: "Gt", values: ["8"] }])), node: zoned("eu", { cores: "8" }), reason: nodeAffinityReason },
  { name: "Gt, not an integer", pod: pod("p", requiredTerms([{ key: "cores", operator: "Gt", values: ["8"] }])), node: zoned("eu", { cores: "many" }), reason: nodeAffinityReason },
  { name: "Lt", pod: pod("p", requiredTerms([{ key: "cores", operator: "Lt", values: ["8"] }])), node: zoned("eu", { cores: "4" }), reason: undefined },
  { name: "Lt, label absent", pod: pod("p", requiredTerms([{ key: "cores", operator: "Lt", values: ["8"] }])), node: zoned("eu"), reason: nodeAffinityReason },
  {
    name: "expressions in a term are ANDed",
    pod: pod("p", requiredTerms([{ key: "zone", operator: "In", values: ["eu"] }, { key: "gpu", operator: "Exists" }])),
    node: zoned("eu"),
    reason: nodeAffinityReason,
  },
  {
    name: "terms are ORed",
    pod: pod("p", requiredTerms([{ key: "zone", operator: "In", values: ["us"] }], [{ key: "zone", operator: "In", values: ["eu"] }])),
    node: zoned("eu"),
    reason: undefined,
  },
  {
    name: "nodeSelector and affinity must both hold",
    pod: pod("p", { nodeSelector: { disk: "ssd" }, ...requiredTerms([{ key: "zone", operator: "In", values: ["eu"] }]) }),
    node: zoned("eu"),
    reason: nodeAffinityReason,
  },
]);

const dbTaint = { key: "dedicated", value: "db", effect: "NoSchedule" as const };
const tainted = (...taints: NodeInfo["taints"]) => node("a", { taints });
table("taintToleration", taintTolerationFilter, [
  { name: "no taints", pod: pod("p"), node: node("a"), reason: undefined },
  { name: "NoSchedule, untolerated", pod: pod("p"), node: tainted(dbTaint), reason: "node(s) had untolerated taint {dedicated: db}" },
  { name: "NoExecute, untolerated", pod: pod("p"), node: tainted({ key: "evict", effect: "NoExecute" }), reason: "node(s) had untolerated taint {evict: }" },
  { name: "PreferNoSchedule is left to the scorer", pod: pod("p"), node: tainted({ key: "soft", effect: "PreferNoSchedule" }), reason: undefined },
  { name: "Equal toleration", pod: pod("p", { tolerations: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] }), node: tainted(dbTaint), reason: undefined },
  { name: "Equal toleration, other value", pod: pod("p", { tolerations: [{ key: "dedicated", value: "web" }] }), node: tainted(dbTaint), reason: "node(s) had untolerated taint {dedicated: db}" },
  { name: "Exists toleration for the key", pod: pod("p", { tolerations: [{ key: "dedicated", operator: "Exists" }] }), node: tainted(dbTaint), reason: undefined },
  { name: "toleration for another effect", pod: pod("p", { tolerations: [{ key: "dedicated", operator: "Exists", effect: "NoExecute" }] }), node: tainted(dbTaint), reason: "node(s) had untolerated taint {dedicated: db}" },
  { name: "empty key with Exists tolerates everything", pod: pod("p", { tolerations: [{ operator: "Exists" }] }), node: tainted(dbTaint, { key: "evict", effect: "NoExecute" }), reason: undefined },
  {
    name: "every taint must be tolerated; the first untolerated one is named",
    pod: pod("p", { tolerations: [{ key: "dedicated", operator: "Exists" }] }),
    node: tainted(dbTaint, { key: "maintenance", value: "yes", effect: "NoExecute" }),
    reason: "node(s) had untolerated taint {maintenance: yes}",
  },
]);

const withUse = (cpuMillis: number, memoryBytes: number, pods: number, allocatablePods = 110) =>
  node("a", { allocatable: { cpuMillis: 4000, memoryBytes: 8 * GiB, pods: allocatablePods }, requested: { cpuMillis, memoryBytes, pods } });
table("resourcesFit", resourcesFitFilter, [
  { name: "fits an empty node", pod: requesting("p", { cpu: "1", memory: "1Gi" }), node: withUse(0, 0, 0), reason: undefined },
  { name: "fits exactly", pod: requesting("p", { cpu: "1", memory: "1Gi" }), node: withUse(3000, 7 * GiB, 5), reason: undefined },
  { name: "one millicore too many", pod: requesting("p", { cpu: "1001m" }), node: withUse(3000, 0, 5), reason: insufficientCpuReason },
  { name: "memory short", pod: requesting("p", { memory: "2Gi" }), node: withUse(0, 7 * GiB, 5), reason: insufficientMemoryReason },
  { name: "pod slots full", pod: requesting("p", { cpu: "1" }), node: withUse(0, 0, 110), reason: tooManyPodsReason },
  { name: "no requests fit an overcommitted node", pod: pod("p"), node: withUse(9000, 20 * GiB, 5), reason: undefined },
  { name: "cpu reported before memory", pod: requesting("p", { cpu: "4", memory: "8Gi" }), node: withUse(1000, 1 * GiB, 1), reason: insufficientCpuReason },
  {
    name: "an init container's peak counts",
    pod: pod("p", { initContainers: [{ name: "init", command: ["true"], resources: { requests: { cpu: "3" } } }] }),
    node: withUse(2000, 0, 0),
    reason: insufficientCpuReason,
  },
]);

const hostPortPod = (name: string, hostPort: number, protocol = "TCP") =>
  pod(name, { containers: [{ name: "main", command: ["true"], ports: [{ containerPort: 80, hostPort, protocol }] }] });
table("nodePorts", nodePortsFilter, [
  { name: "no host ports", pod: pod("p"), node: node("a", { pods: [{ namespace: "x", name: "y", labels: {}, hostPorts: ["80/TCP"] }] }), reason: undefined },
  { name: "free port", pod: hostPortPod("p", 8080), node: node("a", { pods: [{ namespace: "x", name: "y", labels: {}, hostPorts: ["80/TCP"] }] }), reason: undefined },
  { name: "taken port", pod: hostPortPod("p", 8080), node: node("a", { pods: [{ namespace: "x", name: "y", labels: {}, hostPorts: ["8080/TCP"] }] }), reason: hostPortsReason },
  { name: "same port, other protocol", pod: hostPortPod("p", 53, "UDP"), node: node("a", { pods: [{ namespace: "x", name: "y", labels: {}, hostPorts: ["53/TCP"] }] }), reason: undefined },
]);

const web = { namespace: "default", name: "web-1", labels: { app: "web" } };
const cache = { namespace: "default", name: "cache-1", labels: { app: "cache" } };
const antiAffinity = (topologyKey: string, extra: Record<string, unknown> = {}) => ({
  affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: "web" } }, topologyKey, ...extra }] } },
});
table("podAntiAffinity", podAntiAffinityFilter, [
  { name: "no anti-affinity", pod: pod("p"), node: node("a", { pods: [web] }), reason: undefined },
  { name: "a matching pod on the node", pod: pod("p", antiAffinity("kubernetes.io/hostname")), node: node("a", { pods: [cache, web] }), reason: podAntiAffinityReason },
  { name: "only other pods on the node", pod: pod("p", antiAffinity("kubernetes.io/hostname")), node: node("a", { pods: [cache] }), others: [node("b", { pods: [web] })], reason: undefined },
  {
    name: "a matching pod in another namespace does not count",
    pod: pod("p", antiAffinity("kubernetes.io/hostname")),
    node: node("a", { pods: [{ ...web, namespace: "other" }] }),
    reason: undefined,
  },
  {
    name: "unless the term names that namespace",
    pod: pod("p", antiAffinity("kubernetes.io/hostname", { namespaces: ["other"] })),
    node: node("a", { pods: [{ ...web, namespace: "other" }] }),
    reason: podAntiAffinityReason,
  },
  {
    name: "zone topology: a matching pod elsewhere in the zone",
    pod: pod("p", antiAffinity("zone")),
    node: node("a", { labels: { zone: "eu" } }),
    others: [node("b", { labels: { zone: "eu" }, pods: [web] })],
    reason: podAntiAffinityReason,
  },
  {
    name: "zone topology: a node without the label is in no zone",
    pod: pod("p", antiAffinity("zone")),
    node: node("a"),
    others: [node("b", { labels: { zone: "eu" }, pods: [web] })],
    reason: undefined,
  },
]);

const affinity = (topologyKey: string, labels: Record<string, string> = { app: "cache" }) => ({
  affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: labels }, topologyKey }] } },
});
table("podAffinity", podAffinityFilter, [
  { name: "no affinity", pod: pod("p"), node: node("a"), reason: undefined },
  { name: "a matching pod on the node", pod: pod("p", affinity("kubernetes.io/hostname")), node: node("a", { pods: [cache] }), reason: undefined },
  { name: "the matching pod is elsewhere", pod: pod("p", affinity("kubernetes.io/hostname")), node: node("a", { pods: [web] }), others: [node("b", { pods: [cache] })], reason: podAffinityReason },
  {
    name: "zone topology: the matching pod is in the same zone",
    pod: pod("p", affinity("zone")),
    node: node("a", { labels: { zone: "eu" } }),
    others: [node("b", { labels: { zone: "eu" }, pods: [cache] })],
    reason: undefined,
  },
  {
    name: "zone topology: a node without the label cannot satisfy it",
    pod: pod("p", affinity("zone")),
    node: node("a"),
    others: [node("b", { labels: { zone: "eu" }, pods: [cache] })],
    reason: podAffinityReason,
  },
  { name: "no matching pod anywhere", pod: pod("p", affinity("kubernetes.io/hostname")), node: node("a", { pods: [web] }), reason: podAffinityReason },
  {
    name: "no matching pod anywhere, but the pod matches itself: the first of its group may start",
    pod: pod("p", affinity("kubernetes.io/hostname", { app: "web" }), { labels: { app: "web" } }),
    node: node("a"),
    reason: undefined,
  },
]);
