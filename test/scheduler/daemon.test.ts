import { describe, expect, it } from "vitest";
import { daemonNodeVerdicts, withDaemonPodTolerations, type DaemonNodeVerdict, type NodeInfo, type PodToSchedule } from "../../src/scheduler/index.ts";
import { node, pod, requesting } from "./fixtures.ts";

/** Kubernetes' NodeShouldRunDaemonPod, answered by the scheduler's filters: may a daemon start here, may one stay. */

const daemon = (spec: Record<string, unknown> = {}) => {
  const subject = pod("ds", spec);
  return { ...subject, spec: { ...subject.spec, tolerations: withDaemonPodTolerations(subject.spec.tolerations) } };
};

interface Case {
  name: string;
  pod: PodToSchedule;
  node: NodeInfo;
  verdict: DaemonNodeVerdict;
}

const run = { shouldRun: true, shouldContinueRunning: true };

const cases: Case[] = [
  { name: "a ready node without taints", pod: daemon(), node: node("a"), verdict: run },
  {
    name: "another node than the template's nodeName: neither",
    pod: daemon({ nodeName: "b" }),
    node: node("a"),
    verdict: { shouldRun: false, shouldContinueRunning: false, reason: "node(s) didn't match the requested node name" },
  },
  {
    name: "labels the nodeSelector asks for are missing: neither",
    pod: daemon({ nodeSelector: { disk: "ssd" } }),
    node: node("a"),
    verdict: { shouldRun: false, shouldContinueRunning: false, reason: "node(s) didn't match Pod's node affinity/selector" },
  },
  {
    name: "not ready: no new pod, the one there stays",
    pod: daemon(),
    node: node("a", { ready: false }),
    verdict: { shouldRun: false, shouldContinueRunning: true, reason: "node(s) were not ready" },
  },
  {
    name: "not ready, tolerated with NoSchedule: runs",
    pod: daemon({ tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" }] }),
    node: node("a", { ready: false }),
    verdict: run,
  },
  { name: "cordoned: runs (the default daemon toleration)", pod: daemon(), node: node("a", { unschedulable: true }), verdict: run },
  {
    name: "cordoned, for a pod without the daemon tolerations: not",
    pod: pod("plain"),
    node: node("a", { unschedulable: true }),
    verdict: { shouldRun: false, shouldContinueRunning: true, reason: "node(s) were unschedulable" },
  },
  {
    name: "an untolerated NoSchedule taint: no new pod, the one there stays",
    pod: daemon(),
    node: node("a", { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] }),
    verdict: { shouldRun: false, shouldContinueRunning: true, reason: "node(s) had untolerated taint {dedicated: db}" },
  },
  {
    name: "an untolerated NoExecute taint: neither",
    pod: daemon(),
    node: node("a", { taints: [{ key: "dedicated", value: "db", effect: "NoExecute" }] }),
    verdict: { shouldRun: false, shouldContinueRunning: false, reason: "node(s) had untolerated taint {dedicated: db}" },
  },
  {
    name: "an image on a node without docker or podman: no new pod",
    pod: daemon({ containers: [{ name: "main", image: "busybox" }] }),
    node: node("a"),
    verdict: { shouldRun: false, shouldContinueRunning: true, reason: "node(s) had no container runtime for image" },
  },
  {
    name: "resources are not a daemon's concern",
    pod: (() => {
      const subject = requesting("big", { memory: "64Gi" });
      return { ...subject, spec: { ...subject.spec, tolerations: withDaemonPodTolerations(undefined) } };
    })(),
    node: node("a"),
    verdict: run,
  },
];

describe("daemonNodeVerdicts", () => {
  it.each(cases)("$name", ({ pod: subject, node: candidate, verdict }) => {
    expect(daemonNodeVerdicts(subject, [candidate]).get(candidate.name)).toEqual(verdict);
  });
});

describe("withDaemonPodTolerations", () => {
  it("adds Kubernetes' daemon tolerations, replacing the user's for the same key, operator, value and effect", () => {
    expect(
      withDaemonPodTolerations([
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 10 },
        { key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" },
      ]),
    ).toEqual([
      { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
      { key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" },
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
      { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" },
    ]);
  });
});
