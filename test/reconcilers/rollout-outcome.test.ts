import { describe, expect, it } from "vitest";
import { failureReason, judgeRollout } from "../../src/reconcilers/rollout-outcome.ts";
import { storedObject } from "../helpers/stored-object.ts";

const deployment = (observedGeneration: number, status: Record<string, unknown>) =>
  storedObject({ kind: "Deployment", name: "web", generation: 3, observedGeneration, status });
const started = new Date("2026-11-23T12:00:00Z");
const progressing = (status: string, reason: string, lastTransitionTime?: string) => ({
  conditions: [{ type: "Progressing", status, reason, ...(lastTransitionTime ? { lastTransitionTime } : {}) }],
});
const pod = (name: string, overrides: { nodeName?: string; ready?: boolean; restarts?: number }) =>
  storedObject({
    kind: "Pod",
    name,
    spec: overrides.nodeName ? { nodeName: overrides.nodeName } : {},
    status: { ready: overrides.ready ?? false, containerStatuses: [{ restartCount: overrides.restarts ?? 0 }] },
  });

describe("judgeRollout: a Deployment's rollout outcome from its status", () => {
  it.each([
    { case: "the controller has not observed the rollout's generation yet", workload: deployment(2, { ...progressing("False", "ProgressDeadlineExceeded"), health: "Degraded" }), expected: { outcome: "progressing" } },
    { case: "new ReplicaSet available and healthy", workload: deployment(3, { ...progressing("True", "NewReplicaSetAvailable"), health: "Healthy" }), expected: { outcome: "complete" } },
    { case: "reason kept from before but pods not all there (health Progressing)", workload: deployment(3, { ...progressing("True", "NewReplicaSetAvailable"), health: "Progressing" }), expected: { outcome: "progressing" } },
    { case: "still updating", workload: deployment(3, { ...progressing("True", "ReplicaSetUpdated"), health: "Progressing" }), expected: { outcome: "progressing" } },
    { case: "no status at all", workload: deployment(3, {}), expected: { outcome: "progressing" } },
    {
      case: "the previous rollout's deadline, still shown until this one progresses (a rollback)",
      workload: deployment(3, { ...progressing("False", "ProgressDeadlineExceeded", "2026-11-23T11:59:59Z"), health: "Degraded" }),
      expected: { outcome: "progressing" },
    },
    {
      case: "this rollout's own deadline",
      workload: deployment(3, { ...progressing("False", "ProgressDeadlineExceeded", "2026-11-23T12:00:04Z"), health: "Degraded" }),
      expected: { outcome: "failed", reason: "ProgressDeadlineExceeded" },
    },
    { case: "progress deadline exceeded", workload: deployment(3, { ...progressing("False", "ProgressDeadlineExceeded"), health: "Degraded" }), expected: { outcome: "failed", reason: "ProgressDeadlineExceeded" } },
  ])("$case", ({ workload, expected }) => {
    expect(judgeRollout(workload, 3, started, [])).toEqual(expected);
  });

  it("a DaemonSet completes with NewPodsAvailable and never fails on its own", () => {
    const daemonSet = (reason: string) => storedObject({ kind: "DaemonSet", name: "logs", generation: 2, observedGeneration: 2, status: progressing("True", reason) });
    expect(judgeRollout(daemonSet("NewPodsAvailable"), 2, started, [])).toEqual({ outcome: "complete" });
    expect(judgeRollout(daemonSet("RollingUpdate"), 2, started, [])).toEqual({ outcome: "progressing" });
  });
});

describe("failureReason: what the new template's pods say", () => {
  it.each([
    { case: "crash-looping", pods: [pod("web-a", { nodeName: "n1", restarts: 1 }), pod("web-b", { nodeName: "n1", restarts: 4 })], expected: "ProgressDeadlineExceeded: crash-looping (pod web-b restarted 4 times)" },
    { case: "unschedulable", pods: [pod("web-a", { ready: true, nodeName: "n1" }), pod("web-b", {})], expected: "ProgressDeadlineExceeded: unschedulable (pod web-b is bound to no node)" },
    { case: "never ready", pods: [pod("web-a", { nodeName: "n1" })], expected: "ProgressDeadlineExceeded: not ready (pod web-a never became ready)" },
    { case: "nothing to add", pods: [], expected: "ProgressDeadlineExceeded" },
  ])("$case", ({ pods, expected }) => {
    expect(failureReason("ProgressDeadlineExceeded", pods)).toBe(expected);
  });
});

describe("judgeRollout: a StatefulSet's rollout outcome from its status", () => {
  const statefulSet = (spec: Record<string, unknown>, status: Record<string, unknown>, observedGeneration = 3) =>
    storedObject({ kind: "StatefulSet", name: "kv", generation: 3, observedGeneration, spec: { replicas: 3, ...spec }, status });
  const rolling = (partition: number) => ({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition } } });
  it.each([
    { case: "not observed yet", workload: statefulSet({}, { readyReplicas: 3, updatedReplicas: 3, currentRevision: "b", updateRevision: "b" }, 2), expected: "progressing" },
    { case: "every pod new and ready, revision made current", workload: statefulSet(rolling(0), { readyReplicas: 3, updatedReplicas: 3, currentRevision: "b", updateRevision: "b" }), expected: "complete" },
    { case: "all new but one not ready", workload: statefulSet(rolling(0), { readyReplicas: 2, updatedReplicas: 3, currentRevision: "b", updateRevision: "b" }), expected: "progressing" },
    { case: "all ready, one still old", workload: statefulSet(rolling(0), { readyReplicas: 3, updatedReplicas: 2, currentRevision: "a", updateRevision: "b" }), expected: "progressing" },
    { case: "partition 2: only ordinal 2 new, all ready", workload: statefulSet(rolling(2), { readyReplicas: 3, updatedReplicas: 1, currentRevision: "a", updateRevision: "b" }), expected: "complete" },
    { case: "partition 2: ordinal 2 not yet new", workload: statefulSet(rolling(2), { readyReplicas: 3, updatedReplicas: 0, currentRevision: "a", updateRevision: "b" }), expected: "progressing" },
    { case: "OnDelete: old pods not yet deleted by hand", workload: statefulSet({ updateStrategy: { type: "OnDelete" } }, { readyReplicas: 3, updatedReplicas: 1, currentRevision: "a", updateRevision: "b" }), expected: "progressing" },
    { case: "no status yet", workload: statefulSet({}, {}), expected: "progressing" },
  ])("$case", ({ workload, expected }) => {
    expect(judgeRollout(workload, 3, started, [])).toEqual({ outcome: expected });
  });
});
