import { describe, expect, it } from "vitest";
import { replicaSetKind, type ReplicaSetSpec, type StoredObject } from "../../src/desired/index.ts";
import { deletionOrder, planReplicaSet, podNameSuffix } from "../../src/reconcilers/replicaset-plan.ts";
import { storedObject } from "../helpers/stored-object.ts";

const t0 = Date.parse("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const now = at(3600);

function stored(fields: Partial<StoredObject> & Pick<StoredObject, "kind" | "name">): StoredObject {
  return storedObject({ apiVersion: "v1", createdAt: at(0), ...fields });
}

function replicaSetSpec(replicas: number, minReadySeconds = 0): ReplicaSetSpec {
  const manifest = replicaSetKind.schema.parse({
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name: "web-abc" },
    spec: {
      replicas,
      minReadySeconds,
      selector: { matchLabels: { app: "web", "pod-template-hash": "abc" } },
      template: {
        metadata: { labels: { app: "web", "pod-template-hash": "abc" } },
        spec: { containers: [{ name: "web", command: ["/srv/web"] }] },
      },
    },
  });
  return replicaSetKind.specOf(manifest) as ReplicaSetSpec;
}

function replicaSet(replicas: number, options: { minReadySeconds?: number; generation?: number } = {}): StoredObject {
  return stored({
    kind: "ReplicaSet",
    apiVersion: "apps/v1",
    name: "web-abc",
    spec: replicaSetSpec(replicas, options.minReadySeconds),
    generation: options.generation ?? 1,
  });
}

interface PodFixture {
  name: string;
  node?: string;
  phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
  ready?: boolean;
  /** Seconds after t0 of the Ready condition's lastTransitionTime. */
  readyAt?: number;
  /** Seconds after t0 of status.startTime. */
  startedAt?: number;
  restarts?: number;
  /** Seconds after t0. */
  created?: number;
  deleting?: boolean;
  cost?: number;
  labels?: Record<string, string>;
}

/** A pod as the ReplicaSet made it and the node link reported it (storedPodStatus's shape). */
function pod(fixture: PodFixture): StoredObject {
  const phase = fixture.phase ?? (fixture.ready ? "Running" : "Pending");
  const ready = fixture.ready ?? false;
  return stored({
    kind: "Pod",
    name: fixture.name,
    ownerUid: "uid-replicaset-web-abc",
    labels: fixture.labels ?? { app: "web", "pod-template-hash": "abc" },
    annotations: fixture.cost === undefined ? {} : { "controller.kubernetes.io/pod-deletion-cost": String(fixture.cost) },
    spec: fixture.node ? { nodeName: fixture.node } : {},
    status: {
      phase,
      ready,
      startTime: fixture.startedAt === undefined ? null : iso(fixture.startedAt),
      conditions: [
        { type: "Ready", status: ready ? "True" : "False", ...(fixture.readyAt === undefined ? {} : { lastTransitionTime: iso(fixture.readyAt) }) },
      ],
      containerStatuses: [{ name: "web", restartCount: fixture.restarts ?? 0, ready }],
      initContainerStatuses: [],
    },
    createdAt: at(fixture.created ?? 0),
    deletedAt: fixture.deleting ? at(3500) : null,
  });
}

const running = (fixture: PodFixture): PodFixture => ({ phase: "Running", ready: true, readyAt: 60, startedAt: 30, ...fixture });

describe("planReplicaSet: scaling up", () => {
  it("creates the missing pods from the template, named <replicaset>-<5 chars> from the seed", () => {
    const rs = replicaSet(3);
    const plan = planReplicaSet({ replicaSet: rs, pods: [pod(running({ name: "web-abc-one", node: "n1" }))], now, nameSeed: "seed-1" });
    expect(plan.actions).toHaveLength(2);
    for (const action of plan.actions) {
      expect(action).toMatchObject({ type: "createPod", template: (rs.spec as ReplicaSetSpec).template });
      expect(action.name).toMatch(/^web-abc-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    }
    expect(new Set(plan.actions.map((action) => action.name)).size).toBe(2);

    const again = planReplicaSet({ replicaSet: rs, pods: [pod(running({ name: "web-abc-one", node: "n1" }))], now, nameSeed: "seed-1" });
    expect(again.actions).toEqual(plan.actions);
    const otherSeed = planReplicaSet({ replicaSet: rs, pods: [], now, nameSeed: "seed-2" });
    expect(otherSeed.actions.map((action) => action.name)).not.toContain(plan.actions[0]!.name);
  });

  it("skips a name a pod still holds (a terminating or finished one)", () => {
    const taken = `web-abc-${podNameSuffix("seed", 0)}`;
    const plan = planReplicaSet({ replicaSet: replicaSet(1), pods: [pod({ name: taken, phase: "Failed" })], now, nameSeed: "seed" });
    expect(plan.actions).toEqual([expect.objectContaining({ type: "createPod", name: `web-abc-${podNameSuffix("seed", 1)}` })]);
  });

  const replacementCases: { name: string; pods: PodFixture[]; creates: number }[] = [
    { name: "a Succeeded pod is replaced", pods: [running({ name: "a" }), { name: "b", phase: "Succeeded" }], creates: 1 },
    { name: "a Failed pod is replaced", pods: [running({ name: "a" }), { name: "b", phase: "Failed" }], creates: 1 },
    { name: "a terminating pod is replaced", pods: [running({ name: "a" }), running({ name: "b", deleting: true })], creates: 1 },
    { name: "Pending and Unknown pods count", pods: [{ name: "a", phase: "Pending" }, { name: "b", phase: "Unknown" }], creates: 0 },
    { name: "unready pods count", pods: [running({ name: "a", ready: false }), running({ name: "b" })], creates: 0 },
  ];
  it.each(replacementCases)("$name", ({ pods, creates }) => {
    const plan = planReplicaSet({ replicaSet: replicaSet(2), pods: pods.map(pod), now, nameSeed: "s" });
    expect(plan.actions.filter((action) => action.type === "createPod")).toHaveLength(creates);
    expect(plan.actions.filter((action) => action.type === "deletePod")).toHaveLength(0);
  });

  it("does nothing for a ReplicaSet being deleted", () => {
    const rs = { ...replicaSet(3), deletedAt: at(10) };
    expect(planReplicaSet({ replicaSet: rs, pods: [], now, nameSeed: "s" }).actions).toEqual([]);
  });
});

describe("planReplicaSet: which pod goes first when scaling down (Kubernetes' ActivePods order)", () => {
  const cases: { rule: string; pods: PodFixture[]; order: string[] }[] = [
    {
      rule: "unassigned before assigned, even when older",
      pods: [{ name: "assigned", node: "n1", created: 100 }, { name: "unassigned", created: 0 }],
      order: ["unassigned", "assigned"],
    },
    {
      rule: "Pending < Unknown < Running",
      pods: [
        running({ name: "running", node: "n1", ready: false }),
        { name: "unknown", node: "n2", phase: "Unknown" },
        { name: "pending", node: "n3", phase: "Pending" },
      ],
      order: ["pending", "unknown", "running"],
    },
    {
      rule: "not ready before ready",
      pods: [running({ name: "ready", node: "n1" }), running({ name: "not-ready", node: "n2", ready: false, created: 0 })],
      order: ["not-ready", "ready"],
    },
    {
      rule: "lower pod-deletion-cost first, before readiness time",
      pods: [running({ name: "costly", node: "n1", cost: 100, readyAt: 3000 }), running({ name: "cheap", node: "n2", readyAt: 10 })],
      order: ["cheap", "costly"],
    },
    {
      rule: "more pods of the set on the same node first",
      pods: [
        running({ name: "alone", node: "n1", readyAt: 3000 }),
        running({ name: "doubled-a", node: "n2", readyAt: 10 }),
        running({ name: "doubled-b", node: "n2", readyAt: 20 }),
      ],
      order: ["doubled-b", "doubled-a", "alone"],
    },
    {
      rule: "ready more recently first",
      pods: [running({ name: "long-ready", node: "n1", readyAt: 60 }), running({ name: "just-ready", node: "n2", readyAt: 3500 })],
      order: ["just-ready", "long-ready"],
    },
    {
      rule: "unknown ready time before any known one",
      pods: [
        running({ name: "known", node: "n1", readyAt: 3500 }),
        running({ name: "unknown-time", node: "n2", readyAt: undefined, startedAt: undefined }),
      ],
      order: ["unknown-time", "known"],
    },
    {
      rule: "the Ready condition's time wins over startTime",
      pods: [
        running({ name: "started-long-ago-ready-now", node: "n1", startedAt: 0, readyAt: 3500 }),
        running({ name: "started-later", node: "n2", startedAt: 1000, readyAt: undefined }),
      ],
      order: ["started-long-ago-ready-now", "started-later"],
    },
    {
      rule: "startTime stands in when the Ready condition has no time",
      pods: [
        running({ name: "started-early", node: "n1", startedAt: 100, readyAt: undefined }),
        running({ name: "started-late", node: "n2", startedAt: 2000, readyAt: undefined }),
      ],
      order: ["started-late", "started-early"],
    },
    {
      rule: "more restarts first (readiness time equal)",
      pods: [running({ name: "steady", node: "n1", restarts: 0 }), running({ name: "flaky", node: "n2", restarts: 7 })],
      order: ["flaky", "steady"],
    },
    {
      rule: "readiness time before restarts",
      pods: [running({ name: "flaky-old", node: "n1", restarts: 9, readyAt: 60 }), running({ name: "fresh", node: "n2", readyAt: 3000 })],
      order: ["fresh", "flaky-old"],
    },
    {
      rule: "newer first when nothing else differs",
      pods: [running({ name: "older", node: "n1", created: 0 }), running({ name: "newer", node: "n2", created: 500 })],
      order: ["newer", "older"],
    },
  ];

  it.each(cases)("$rule", ({ pods, order }) => {
    expect(deletionOrder(pods.map(pod)).map((victim) => victim.name)).toEqual(order);
    expect(deletionOrder([...pods].reverse().map(pod)).map((victim) => victim.name)).toEqual(order);
  });

  it("deletes the surplus in that order, never a terminating or finished pod", () => {
    const pods = [
      running({ name: "veteran", node: "n1", readyAt: 60 }),
      running({ name: "recent", node: "n2", readyAt: 3000 }),
      running({ name: "crashy", node: "n3", readyAt: 60, restarts: 4 }),
      running({ name: "starting", node: "n4", ready: false }),
      { name: "unscheduled" },
      running({ name: "leaving", node: "n5", deleting: true }),
      { name: "done", node: "n6", phase: "Succeeded" as const },
    ].map(pod);
    const plan = planReplicaSet({ replicaSet: replicaSet(2), pods, now, nameSeed: "s" });
    expect(plan.actions).toEqual([
      { type: "deletePod", name: "unscheduled", uid: "uid-pod-unscheduled", reason: "ScaleDown" },
      { type: "deletePod", name: "starting", uid: "uid-pod-starting", reason: "ScaleDown" },
      { type: "deletePod", name: "recent", uid: "uid-pod-recent", reason: "ScaleDown" },
    ]);
  });
});

describe("planReplicaSet: status", () => {
  it("counts active, fully labelled, ready and available pods, with minReadySeconds judged at now", () => {
    const rs = replicaSet(4, { minReadySeconds: 30, generation: 3 });
    const pods = [
      running({ name: "available", node: "n1", readyAt: 3500 }),
      running({ name: "ready-20s", node: "n2", readyAt: 3580 }),
      running({ name: "ready-30s", node: "n3", readyAt: 3570 }),
      running({ name: "mislabelled", node: "n4", ready: false, labels: { app: "web" } }),
      running({ name: "terminating", node: "n5", deleting: true }),
      { name: "failed", node: "n6", phase: "Failed" as const },
    ].map(pod);
    const plan = planReplicaSet({ replicaSet: rs, pods, now, nameSeed: "s" });
    expect(plan.actions).toEqual([]);
    expect(plan.status).toEqual({
      observedGeneration: 3,
      replicas: 4,
      fullyLabeledReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 2,
      health: "Progressing",
    });
    // ready-20s becomes available 10 s from now: look again then.
    expect(plan.requeueAfterMs).toBe(10_000);
  });

  it("is Healthy when every wanted pod is available, and asks for no requeue", () => {
    const pods = [running({ name: "a", node: "n1" }), running({ name: "b", node: "n2" })].map(pod);
    const plan = planReplicaSet({ replicaSet: replicaSet(2, { minReadySeconds: 10 }), pods, now, nameSeed: "s" });
    expect(plan.status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 2, health: "Healthy" });
    expect(plan.requeueAfterMs).toBeUndefined();
  });

  it("never counts a ready pod with no known ready time as available when minReadySeconds is set", () => {
    const pods = [running({ name: "a", node: "n1", readyAt: undefined, startedAt: undefined })].map(pod);
    const plan = planReplicaSet({ replicaSet: replicaSet(1, { minReadySeconds: 10 }), pods, now, nameSeed: "s" });
    expect(plan.status).toMatchObject({ readyReplicas: 1, availableReplicas: 0 });
    const withoutMinReady = planReplicaSet({ replicaSet: replicaSet(1), pods, now, nameSeed: "s" });
    expect(withoutMinReady.status).toMatchObject({ readyReplicas: 1, availableReplicas: 1 });
  });
});
