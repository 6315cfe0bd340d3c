import { describe, expect, it } from "vitest";
import { statefulSetKind, type StatefulSetSpec, type StoredObject } from "../../src/desired/index.ts";
import { podTemplateHash } from "../../src/reconcilers/pod-template-hash.ts";
import { claimOrdinal, ordinalOf, statefulPod } from "../../src/reconcilers/statefulset-identity.ts";
import { planStatefulSet, type StatefulSetAction } from "../../src/reconcilers/statefulset-plan.ts";
import { storedObject } from "../helpers/stored-object.ts";

const t0 = Date.parse("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const now = at(3600);

interface SetOptions {
  replicas?: number;
  policy?: "OrderedReady" | "Parallel";
  strategy?: { type: "RollingUpdate"; rollingUpdate?: { partition?: number; maxUnavailable?: number | string } } | { type: "OnDelete" };
  retention?: { whenDeleted?: "Retain" | "Delete"; whenScaled?: "Retain" | "Delete" };
  minReadySeconds?: number;
  /** The template's image-less command: changing it makes a new revision. */
  version?: string;
  serviceName?: string;
}

function setSpec(options: SetOptions): StatefulSetSpec {
  const manifest = statefulSetKind.schema.parse({
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "kv", namespace: "shop" },
    spec: {
      replicas: options.replicas ?? 3,
      ...(options.serviceName === undefined ? { serviceName: "kv" } : options.serviceName ? { serviceName: options.serviceName } : {}),
      podManagementPolicy: options.policy ?? "OrderedReady",
      ...(options.strategy ? { updateStrategy: options.strategy } : {}),
      ...(options.retention ? { persistentVolumeClaimRetentionPolicy: options.retention } : {}),
      minReadySeconds: options.minReadySeconds ?? 0,
      selector: { matchLabels: { app: "kv" } },
      template: {
        metadata: { labels: { app: "kv" } },
        spec: {
          containers: [{ name: "kv", command: ["node", "kv.js", options.version ?? "v2"], volumeMounts: [{ name: "data", mountPath: "/data" }] }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } }],
    },
  });
  return statefulSetKind.specOf(manifest) as StatefulSetSpec;
}

const oldSpec = setSpec({ version: "v1" });
const revisionOf = (spec: StatefulSetSpec) => `kv-${podTemplateHash(spec.template)}`;
const OLD = revisionOf(oldSpec);

function statefulSet(options: SetOptions = {}, currentRevision?: string): StoredObject {
  return storedObject({
    kind: "StatefulSet",
    apiVersion: "apps/v1",
    name: "kv",
    uid: "uid-kv",
    spec: setSpec(options) as unknown as Record<string, unknown>,
    status: currentRevision ? { currentRevision } : {},
    revisionSha: "c0ffee",
  });
}

const revisions = (...specs: StatefulSetSpec[]) =>
  specs.map((spec, index) =>
    storedObject({ kind: "ControllerRevision", apiVersion: "apps/v1", name: revisionOf(spec), ownerUid: "uid-kv", spec: { revision: index + 1, template: spec.template } }),
  );

type State = "ready" | "starting" | "unready" | "failed";
/** `kv-<ordinal>` of revision `rev` ("old" or "new") in `state`. */
function pod(ordinal: number, state: State = "ready", rev: "old" | "new" = "new", readySeconds = 600): StoredObject {
  const revision = rev === "old" ? OLD : revisionOf(setSpec({}));
  const phase = state === "failed" ? "Failed" : state === "starting" ? "Pending" : "Running";
  const ready = state === "ready";
  return storedObject({
    kind: "Pod",
    name: `kv-${ordinal}`,
    ownerUid: "uid-kv",
    labels: { app: "kv", "controller-revision-hash": revision },
    spec: { nodeName: "n1" },
    status: {
      phase,
      ready,
      conditions: [{ type: "Ready", status: ready ? "True" : "False", lastTransitionTime: new Date(now.getTime() - readySeconds * 1000).toISOString() }],
    },
  });
}

function claim(name: string, source: "controller" | "git" = "controller"): StoredObject {
  return storedObject({ kind: "PersistentVolumeClaim", name, source, spec: {} });
}

/** Actions as short strings, in order: what a reader of the table checks. */
function summary(actions: StatefulSetAction[]): string[] {
  return actions.flatMap((action) => {
    switch (action.type) {
      case "createPod":
        return [`create ${action.pod.name}`];
      case "deletePod":
        return [`delete ${action.name} (${action.reason})`];
      case "createClaim":
        return [`claim ${action.claim.name}`];
      case "deleteClaim":
        return [`unclaim ${action.name}`];
      default:
        return [];
    }
  });
}

const allClaims = (count: number) => Array.from({ length: count }, (_, ordinal) => claim(`data-kv-${ordinal}`));

describe("planStatefulSet: ordered creation and scaling", () => {
  const cases: { name: string; options?: SetOptions; pods: StoredObject[]; claims?: StoredObject[]; expected: string[] }[] = [
    { name: "OrderedReady creates ordinal 0 first, its claim before it", pods: [], expected: ["claim data-kv-0", "create kv-0"] },
    { name: "it waits while kv-0 is not yet Running", pods: [pod(0, "starting")], claims: allClaims(1), expected: [] },
    { name: "it waits while kv-0 runs but is not ready", pods: [pod(0, "unready")], claims: allClaims(1), expected: [] },
    { name: "then creates kv-1 once kv-0 is ready", pods: [pod(0)], claims: allClaims(1), expected: ["claim data-kv-1", "create kv-1"] },
    { name: "a missing lower ordinal is made before anything else", pods: [pod(1), pod(2)], claims: allClaims(3), expected: ["create kv-0"] },
    {
      name: "minReadySeconds holds the next ordinal until kv-0 has been ready long enough",
      options: { minReadySeconds: 60 },
      pods: [{ ...pod(0, "ready", "new", 30) }],
      claims: allClaims(1),
      expected: [],
    },
    { name: "a Failed pod is deleted so that it is made again, and the pass stops there", pods: [pod(0, "failed"), pod(1)], claims: allClaims(3), expected: ["delete kv-0 (Failed)"] },
    { name: "Parallel creates every ordinal at once", options: { policy: "Parallel" }, pods: [], expected: ["claim data-kv-0", "create kv-0", "claim data-kv-1", "create kv-1", "claim data-kv-2", "create kv-2"] },
    { name: "Parallel does not wait for an unready pod", options: { policy: "Parallel" }, pods: [pod(0, "starting")], claims: allClaims(3), expected: ["create kv-1", "create kv-2"] },
    { name: "scale down deletes the highest ordinal first, one at a time", options: { replicas: 1 }, pods: [pod(0), pod(1), pod(2)], claims: allClaims(3), expected: ["delete kv-2 (ScaleDown)"] },
    { name: "scale down waits while a remaining pod is unhealthy", options: { replicas: 1 }, pods: [pod(0, "unready"), pod(1), pod(2)], claims: allClaims(3), expected: [] },
    { name: "Parallel scales down every surplus pod at once", options: { replicas: 1, policy: "Parallel" }, pods: [pod(0), pod(1), pod(2)], claims: allClaims(3), expected: ["delete kv-2 (ScaleDown)", "delete kv-1 (ScaleDown)"] },
    { name: "a claim deleted under a live pod is made again", pods: [pod(0), pod(1), pod(2)], claims: [claim("data-kv-0"), claim("data-kv-2")], expected: ["claim data-kv-1"] },
  ];
  it.each(cases)("$name", ({ options, pods, claims, expected }) => {
    const set = statefulSet(options);
    const plan = planStatefulSet({ statefulSet: set, pods, claims: claims ?? [], revisions: revisions(set.spec as unknown as StatefulSetSpec), now });
    expect(summary(plan.actions)).toEqual(expected);
  });

  const gone = (ordinal: number) => ({ ...pod(ordinal), deletedAt: at(3590) });
  const terminatingCases: { name: string; options?: SetOptions; pods: StoredObject[]; terminating: StoredObject[]; expected: string[] }[] = [
    { name: "a pod still terminating is not replaced until it is gone (OrderedReady)", pods: [pod(0), pod(2)], terminating: [gone(1)], expected: [] },
    { name: "nor with Parallel, which goes on with the other ordinals", options: { policy: "Parallel" }, pods: [pod(0)], terminating: [gone(1)], expected: ["create kv-2"] },
    { name: "OrderedReady scale down waits for the last one deleted to be gone", options: { replicas: 1 }, pods: [pod(0), pod(1)], terminating: [gone(2)], expected: [] },
    { name: "then deletes the next one", options: { replicas: 1 }, pods: [pod(0), pod(1)], terminating: [], expected: ["delete kv-1 (ScaleDown)"] },
  ];
  it.each(terminatingCases)("$name", ({ options, pods, terminating, expected }) => {
    const set = statefulSet(options);
    const plan = planStatefulSet({ statefulSet: set, pods, terminating, claims: allClaims(3), revisions: revisions(set.spec as unknown as StatefulSetSpec), now });
    expect(summary(plan.actions)).toEqual(expected);
  });

  it("keeps the claims of an ordinal whose pod is still terminating, even with whenScaled Delete", () => {
    const set = statefulSet({ replicas: 1, retention: { whenScaled: "Delete" } });
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(0)], terminating: [gone(1)], claims: allClaims(2), revisions: [], now });
    expect(summary(plan.actions)).toEqual([]);
  });

  it("requeues for when a pod becomes available under minReadySeconds", () => {
    const set = statefulSet({ minReadySeconds: 60 });
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(0, "ready", "new", 30)], claims: allClaims(1), revisions: [], now });
    expect(plan.requeueAfterMs).toBe(30_000);
  });
});

describe("planStatefulSet: the pod it makes", () => {
  it("carries the identity labels, hostname, subdomain, the claim volume and the commit", () => {
    const set = statefulSet();
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(0)], claims: allClaims(1), revisions: revisions(set.spec as unknown as StatefulSetSpec), now });
    const create = plan.actions.find((action) => action.type === "createPod");
    expect(create).toMatchObject({
      type: "createPod",
      ordinal: 1,
      pod: {
        name: "kv-1",
        labels: { app: "kv", "statefulset.kubernetes.io/pod-name": "kv-1", "apps.kubernetes.io/pod-index": "1", "controller-revision-hash": revisionOf(setSpec({})) },
        annotations: { "capstan.dev/commit": "c0ffee" },
        spec: { hostname: "kv-1", subdomain: "kv", volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-kv-1", readOnly: false } }] },
      },
    });
  });

  it("has no subdomain without a serviceName", () => {
    const made = statefulPod(statefulSet({ serviceName: "" }), 0, setSpec({}).template, "kv-x", undefined);
    expect(made.spec.hostname).toBe("kv-0");
    expect(made.spec.subdomain).toBeUndefined();
  });

  it("owns its claims only when whenDeleted is Delete", () => {
    const owned = planStatefulSet({ statefulSet: statefulSet({ retention: { whenDeleted: "Delete" } }), pods: [], claims: [], revisions: [], now });
    const kept = planStatefulSet({ statefulSet: statefulSet(), pods: [], claims: [], revisions: [], now });
    expect(owned.actions.find((action) => action.type === "createClaim")).toMatchObject({ claim: { ownerUid: "uid-kv", labels: { app: "kv" } } });
    expect(kept.actions.find((action) => action.type === "createClaim")).toMatchObject({ claim: { ownerUid: null } });
  });

  it("reads ordinals only from canonical names", () => {
    expect([ordinalOf("kv", "kv-0"), ordinalOf("kv", "kv-12"), ordinalOf("kv", "kv-01"), ordinalOf("kv", "kvx-1"), ordinalOf("kv", "kv-a")]).toEqual([0, 12, null, null, null]);
    const template = setSpec({}).volumeClaimTemplates![0]!;
    expect([claimOrdinal(template, "kv", "data-kv-3"), claimOrdinal(template, "kv", "data-other-3")]).toEqual([3, null]);
  });
});

describe("planStatefulSet: rolling updates", () => {
  const three = (rev: "old" | "new", ...states: State[]) => states.map((state, ordinal) => pod(ordinal, state, rev));
  const cases: { name: string; options?: SetOptions; pods: StoredObject[]; expected: string[] }[] = [
    { name: "the highest ordinal is replaced first", pods: three("old", "ready", "ready", "ready"), expected: ["delete kv-2 (Update)"] },
    { name: "then the next one down, once the replacement is ready", pods: [pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2)], expected: ["delete kv-1 (Update)"] },
    { name: "nothing moves while the replacement is not ready", pods: [pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "unready")], expected: [] },
    {
      name: "partition 2 updates only ordinal 2",
      options: { strategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } },
      pods: three("old", "ready", "ready", "ready"),
      expected: ["delete kv-2 (Update)"],
    },
    {
      name: "partition 2 leaves ordinals below it on the old revision once 2 is updated",
      options: { strategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } },
      pods: [pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2)],
      expected: [],
    },
    {
      name: "maxUnavailable 2 replaces two at once, highest first",
      options: { strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 2 } } },
      pods: three("old", "ready", "ready", "ready"),
      expected: ["delete kv-2 (Update)", "delete kv-1 (Update)"],
    },
    {
      name: "maxUnavailable counts pods already unavailable (Parallel)",
      options: { policy: "Parallel", strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 2 } } },
      pods: [pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "unready")],
      expected: ["delete kv-1 (Update)"],
    },
    { name: "OnDelete replaces nothing by itself", options: { strategy: { type: "OnDelete" } }, pods: three("old", "ready", "ready", "ready"), expected: [] },
  ];
  it.each(cases)("$name", ({ options, pods, expected }) => {
    const set = statefulSet(options, OLD);
    const plan = planStatefulSet({ statefulSet: set, pods, claims: allClaims(3), revisions: revisions(oldSpec, set.spec as unknown as StatefulSetSpec), now });
    expect(summary(plan.actions)).toEqual(expected);
  });

  it("recreates a deleted pod below the partition from the current (old) revision, and one above from the new", () => {
    const set = statefulSet({ policy: "Parallel", strategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } }, OLD);
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(1, "ready", "old")], claims: allClaims(3), revisions: revisions(oldSpec, set.spec as unknown as StatefulSetSpec), now });
    const made = plan.actions.flatMap((action) => (action.type === "createPod" ? [[action.pod.name, action.pod.labels["controller-revision-hash"], action.pod.spec.containers[0]!.command![2]]] : []));
    expect(made).toEqual([
      ["kv-0", OLD, "v1"],
      ["kv-2", revisionOf(setSpec({})), "v2"],
    ]);
  });

  it("OnDelete makes a deleted pod from the new template", () => {
    const set = statefulSet({ strategy: { type: "OnDelete" } }, OLD);
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(0, "ready", "old"), pod(2, "ready", "old")], claims: allClaims(3), revisions: revisions(oldSpec, set.spec as unknown as StatefulSetSpec), now });
    expect(plan.actions).toEqual([expect.objectContaining({ type: "createPod", pod: expect.objectContaining({ name: "kv-1", labels: expect.objectContaining({ "controller-revision-hash": revisionOf(setSpec({})) }) }) })]);
  });

  it("records a new revision for a new template, numbered after the highest", () => {
    const set = statefulSet({}, OLD);
    const plan = planStatefulSet({ statefulSet: set, pods: three("old", "ready", "ready", "ready"), claims: allClaims(3), revisions: revisions(oldSpec), now });
    expect(plan.actions[0]).toMatchObject({ type: "createRevision", name: revisionOf(setSpec({})), revision: 2, commit: "c0ffee" });
  });

  it("deletes unused revisions beyond revisionHistoryLimit, oldest first", () => {
    const set = statefulSet();
    const old = [1, 2, 3].map((n) => storedObject({ kind: "ControllerRevision", name: `kv-old${n}`, ownerUid: "uid-kv", spec: { revision: n, template: {} } }));
    const limited = { ...set, spec: { ...set.spec, revisionHistoryLimit: 1 } };
    const plan = planStatefulSet({ statefulSet: limited, pods: [], claims: [], revisions: [...old, ...revisions(setSpec({}))], now });
    expect(plan.actions.filter((action) => action.type === "deleteRevision").map((action) => (action as { name: string }).name)).toEqual(["kv-old1", "kv-old2"]);
  });
});

describe("planStatefulSet: claim retention", () => {
  const cases: { name: string; retention?: SetOptions["retention"]; pods: StoredObject[]; claims: StoredObject[]; expected: string[] }[] = [
    { name: "whenScaled Retain keeps the claims of scaled-away ordinals", pods: [pod(0)], claims: allClaims(3), expected: [] },
    { name: "whenScaled Delete deletes them once their pod is gone", retention: { whenScaled: "Delete" }, pods: [pod(0)], claims: allClaims(3), expected: ["unclaim data-kv-1", "unclaim data-kv-2"] },
    { name: "but not while the pod is still there", retention: { whenScaled: "Delete" }, pods: [pod(0), pod(1)], claims: allClaims(2), expected: ["delete kv-1 (ScaleDown)"] },
    { name: "and never a claim written in Git", retention: { whenScaled: "Delete" }, pods: [pod(0)], claims: [claim("data-kv-0"), claim("data-kv-1", "git")], expected: [] },
  ];
  it.each(cases)("$name", ({ retention, pods, claims, expected }) => {
    const set = statefulSet({ replicas: 1, ...(retention ? { retention } : {}) });
    const plan = planStatefulSet({ statefulSet: set, pods, claims, revisions: revisions(set.spec as unknown as StatefulSetSpec), now });
    expect(summary(plan.actions)).toEqual(expected);
  });
});

describe("planStatefulSet: claim ownership follows whenDeleted", () => {
  const owned = (name: string, ownerUid: string | null) => ({ ...claim(name), ownerUid });
  const owners = (options: SetOptions, claims: StoredObject[]) =>
    planStatefulSet({ statefulSet: statefulSet(options), pods: [pod(0), pod(1), pod(2)], claims, revisions: [], now }).actions.flatMap((action) =>
      action.type === "setClaimOwner" ? [[action.name, action.ownerUid]] : [],
    );

  it("adopts the set's claims when whenDeleted becomes Delete, and releases them when it becomes Retain", () => {
    const claims = [owned("data-kv-0", null), owned("data-kv-1", "uid-kv"), owned("data-kv-2", null)];
    expect(owners({ retention: { whenDeleted: "Delete" } }, claims)).toEqual([
      ["data-kv-0", "uid-kv"],
      ["data-kv-2", "uid-kv"],
    ]);
    expect(owners({}, claims)).toEqual([["data-kv-1", null]]);
  });

  it("leaves claims written in Git, claims of another owner, and other names alone", () => {
    const claims = [{ ...claim("data-kv-0", "git"), ownerUid: null }, owned("data-kv-1", "uid-someone-else"), owned("logs-kv-2", null), owned("data-kv-2", "uid-kv")];
    expect(owners({ retention: { whenDeleted: "Delete" } }, claims)).toEqual([]);
  });
});

describe("planStatefulSet: status", () => {
  it("counts current and updated pods, and keeps the old revision current during a rollout", () => {
    const set = statefulSet({}, OLD);
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2, "unready")], claims: allClaims(3), revisions: revisions(oldSpec, setSpec({})), now });
    expect(plan.status).toMatchObject({
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      currentReplicas: 2,
      updatedReplicas: 1,
      currentRevision: OLD,
      updateRevision: revisionOf(setSpec({})),
      health: "Progressing",
      conditions: [{ type: "Available", status: "False", reason: "MinimumReplicasUnavailable" }],
    });
  });

  it("makes the update revision current once every pod runs it and is ready", () => {
    const set = statefulSet({}, OLD);
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(0), pod(1), pod(2)], claims: allClaims(3), revisions: revisions(oldSpec, setSpec({})), now });
    expect(plan.status).toMatchObject({ currentRevision: revisionOf(setSpec({})), currentReplicas: 3, updatedReplicas: 3, health: "Healthy" });
    expect(plan.status.conditions[0]).toMatchObject({ status: "True", reason: "MinimumReplicasAvailable" });
  });

  it("is Healthy when a partitioned rollout has updated every ordinal at or above the partition", () => {
    const set = statefulSet({ strategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } }, OLD);
    const plan = planStatefulSet({ statefulSet: set, pods: [pod(0, "ready", "old"), pod(1, "ready", "old"), pod(2)], claims: allClaims(3), revisions: revisions(oldSpec, setSpec({})), now });
    expect(plan.status).toMatchObject({ currentRevision: OLD, currentReplicas: 2, updatedReplicas: 1, health: "Healthy" });
  });
});
