import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { daemonSetKind, loadDirectory, validateFiles, type DaemonSetSpec, type StoredObject } from "../../src/desired/index.ts";
import { daemonRevisionHashLabel, planDaemonSet, type DaemonSetAction } from "../../src/reconcilers/daemonset-plan.ts";
import { podTemplateHash } from "../../src/reconcilers/pod-template-hash.ts";
import { storedObject } from "../helpers/stored-object.ts";

/** The DaemonSet controller's decisions, from tables: where a daemon pod belongs, rollouts, failures, status. */

const t0 = Date.parse("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const now = at(3600);

// ---------------------------------------------------------------- fixtures

interface DaemonSetOptions {
  version?: string;
  template?: Record<string, unknown>;
  updateStrategy?: Record<string, unknown>;
  minReadySeconds?: number;
  status?: Record<string, unknown>;
}

function daemonSetSpec(options: DaemonSetOptions = {}): DaemonSetSpec {
  const manifest = daemonSetKind.schema.parse({
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "shipper", namespace: "shop" },
    spec: {
      selector: { matchLabels: { app: "shipper" } },
      ...(options.updateStrategy ? { updateStrategy: options.updateStrategy } : {}),
      minReadySeconds: options.minReadySeconds ?? 0,
      template: {
        metadata: { labels: { app: "shipper" }, annotations: { team: "logs" } },
        spec: {
          containers: [{ name: "shipper", command: ["ship"], env: [{ name: "VERSION", value: options.version ?? "v2" }] }],
          ...options.template,
        },
      },
    },
  });
  return daemonSetKind.specOf(manifest) as DaemonSetSpec;
}

function daemonSet(options: DaemonSetOptions = {}): StoredObject {
  return storedObject({
    kind: "DaemonSet",
    apiVersion: "apps/v1",
    name: "shipper",
    spec: daemonSetSpec(options),
    status: options.status ?? {},
    generation: 3,
    revisionSha: "c0ffee",
  });
}

/** The hash label of the current ("v2") template, and of the previous one. */
const current = podTemplateHash(daemonSetSpec().template);
const previous = podTemplateHash(daemonSetSpec({ version: "v1" }).template);

interface NodeFixture {
  name: string;
  ready?: "True" | "False" | "Unknown";
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: "NoSchedule" | "NoExecute" | "PreferNoSchedule" }[];
  unschedulable?: boolean;
}

function node(fixture: NodeFixture | string): StoredObject {
  const { name, ready = "True", labels = {}, taints, unschedulable = false } = typeof fixture === "string" ? { name: fixture } : fixture;
  return storedObject({
    kind: "Node",
    apiVersion: "capstan.dev/v1",
    namespace: "",
    name,
    labels,
    spec: { transport: "ssh", address: "127.0.0.1", port: 22, user: "root", unschedulable, ...(taints ? { taints } : {}) },
    status: { conditions: [{ type: "Ready", status: ready, lastTransitionTime: iso(0) }], nodeInfo: { runtimes: ["process"] } },
  });
}

interface PodFixture {
  name: string;
  node: string;
  /** "old" for the previous template; default the current one. */
  template?: "current" | "old";
  phase?: "Pending" | "Running" | "Succeeded" | "Failed";
  ready?: boolean;
  /** Seconds after t0 when the pod became ready. */
  readyAt?: number;
  /** Seconds after t0. */
  created?: number;
}

/** `currentHash`: the label of a "current" pod, for DaemonSets whose template differs from the default one. */
function pod(fixture: PodFixture, currentHash = current): StoredObject {
  const ready = fixture.ready ?? true;
  return storedObject({
    kind: "Pod",
    name: fixture.name,
    ownerUid: "uid-daemonset-shipper",
    labels: { app: "shipper", [daemonRevisionHashLabel]: fixture.template === "old" ? previous : currentHash },
    annotations: { "capstan.dev/commit": fixture.template === "old" ? "01d" : "c0ffee" },
    spec: { nodeName: fixture.node },
    status: {
      phase: fixture.phase ?? (ready ? "Running" : "Pending"),
      ready,
      conditions: [{ type: "Ready", status: ready ? "True" : "False", lastTransitionTime: iso(fixture.readyAt ?? 60) }],
      containerStatuses: [],
      initContainerStatuses: [],
    },
    createdAt: at(fixture.created ?? 0),
  });
}

function plan(options: { ds?: StoredObject; nodes: (NodeFixture | string)[]; pods?: PodFixture[]; at?: Date }) {
  const ds = options.ds ?? daemonSet();
  const currentHash = podTemplateHash((ds.spec as DaemonSetSpec).template);
  return planDaemonSet({
    daemonSet: ds,
    nodes: options.nodes.map(node),
    pods: (options.pods ?? []).map((fixture) => pod(fixture, currentHash)),
    now: options.at ?? now,
    nameSeed: "seed",
  });
}

const createdOn = (actions: DaemonSetAction[]) => actions.flatMap((action) => (action.type === "createPod" ? [action.node] : []));
const deleted = (actions: DaemonSetAction[]) => actions.flatMap((action) => (action.type === "deletePod" ? [`${action.name}:${action.reason}`] : []));

const threeNodes = ["n1", "n2", "n3"];
const oldEverywhere: PodFixture[] = threeNodes.map((name) => ({ name: `old-${name}`, node: name, template: "old" }));

// ---------------------------------------------------------------- eligibility

describe("planDaemonSet: which nodes get a daemon pod (the scheduler's filters, Kubernetes' NodeShouldRunDaemonPod)", () => {
  const cases: { name: string; nodes: NodeFixture[]; template?: Record<string, unknown>; createdOn: string[]; desired: number }[] = [
    { name: "every ready node", nodes: [{ name: "n1" }, { name: "n2" }, { name: "n3" }], createdOn: ["n1", "n2", "n3"], desired: 3 },
    {
      name: "only nodes carrying the nodeSelector's labels",
      nodes: [{ name: "n1", labels: { disk: "ssd" } }, { name: "n2", labels: { disk: "hdd" } }, { name: "n3" }],
      template: { nodeSelector: { disk: "ssd" } },
      createdOn: ["n1"],
      desired: 1,
    },
    {
      name: "only nodes matching required node affinity",
      nodes: [{ name: "n1", labels: { zone: "a" } }, { name: "n2", labels: { zone: "b" } }, { name: "n3", labels: { zone: "c" } }],
      template: {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "In", values: ["a", "c"] }] }] },
          },
        },
      },
      createdOn: ["n1", "n3"],
      desired: 2,
    },
    {
      name: "not a node with an untolerated NoSchedule taint",
      nodes: [{ name: "n1", taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] }, { name: "n2" }],
      createdOn: ["n2"],
      desired: 1,
    },
    {
      name: "a tainted node whose taint the template tolerates",
      nodes: [{ name: "n1", taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] }, { name: "n2" }],
      template: { tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }] },
      createdOn: ["n1", "n2"],
      desired: 2,
    },
    {
      name: "a PreferNoSchedule taint does not keep a daemon off",
      nodes: [{ name: "n1", taints: [{ key: "spot", effect: "PreferNoSchedule" }] }],
      createdOn: ["n1"],
      desired: 1,
    },
    {
      name: "not a node that is not ready (False) or unreachable (Unknown)",
      nodes: [{ name: "n1", ready: "False" }, { name: "n2", ready: "Unknown" }, { name: "n3" }],
      createdOn: ["n3"],
      desired: 1,
    },
    {
      name: "a node that is not ready, when the template tolerates node.kubernetes.io/not-ready NoSchedule",
      nodes: [{ name: "n1", ready: "Unknown" }, { name: "n2" }],
      template: { tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" }] },
      createdOn: ["n1", "n2"],
      desired: 2,
    },
    {
      name: "a cordoned node (daemons tolerate node.kubernetes.io/unschedulable by default)",
      nodes: [{ name: "n1", unschedulable: true }],
      createdOn: ["n1"],
      desired: 1,
    },
    {
      name: "only the node the template names",
      nodes: [{ name: "n1" }, { name: "n2" }],
      template: { nodeName: "n2" },
      createdOn: ["n2"],
      desired: 1,
    },
    { name: "nothing when there are no nodes", nodes: [], createdOn: [], desired: 0 },
  ];

  it.each(cases)("$name", ({ nodes, template, createdOn: expected, desired }) => {
    const result = plan({ ds: daemonSet({ template }), nodes });
    expect(createdOn(result.actions)).toEqual(expected);
    expect(deleted(result.actions)).toEqual([]);
    expect(result.status).toMatchObject({ desiredNumberScheduled: desired, currentNumberScheduled: 0, numberUnavailable: desired });
  });

  it("creates each pod bound to its node, labelled with the template hash, with the commit and the daemon tolerations", () => {
    const result = plan({ ds: daemonSet({ template: { tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 }] } }), nodes: ["n1"] });
    const [action] = result.actions;
    const hash = podTemplateHash(daemonSetSpec({ template: { tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 }] } }).template);
    expect(action).toMatchObject({
      type: "createPod",
      node: "n1",
      labels: { app: "shipper", [daemonRevisionHashLabel]: hash },
      annotations: { team: "logs", "capstan.dev/commit": "c0ffee" },
      spec: { nodeName: "n1", containers: [{ name: "shipper" }] },
    });
    expect(action?.type === "createPod" && action.name).toMatch(/^shipper-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    // Kubernetes replaces a user's not-ready toleration: a daemon is never evicted for its node being down.
    expect(action?.type === "createPod" && action.spec.tolerations).toEqual([
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
      { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
      { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" },
    ]);
  });

  it("gives a new node's pod the commit of the pods already running the same template", () => {
    const ds = { ...daemonSet(), revisionSha: "later-commit-same-template" };
    const result = plan({ ds, nodes: ["n1", "n2"], pods: [{ name: "a", node: "n1" }] });
    expect(result.actions).toEqual([expect.objectContaining({ type: "createPod", node: "n2", annotations: expect.objectContaining({ "capstan.dev/commit": "c0ffee" }) })]);
  });
});

// ---------------------------------------------------------------- pods that must go, pods that may stay

describe("planDaemonSet: pods on nodes that changed", () => {
  const cases: { name: string; nodes: NodeFixture[]; template?: Record<string, unknown>; pods: PodFixture[]; deleted: string[]; misscheduled: number; desired: number }[] = [
    {
      name: "a node gone from Git loses its pod",
      nodes: [{ name: "n1" }],
      pods: [{ name: "a", node: "n1" }, { name: "b", node: "removed" }],
      deleted: ["b:NodeGone"],
      misscheduled: 0,
      desired: 1,
    },
    {
      name: "a node whose labels no longer match the nodeSelector loses its pod",
      nodes: [{ name: "n1", labels: { disk: "ssd" } }, { name: "n2", labels: { disk: "hdd" } }],
      template: { nodeSelector: { disk: "ssd" } },
      pods: [{ name: "a", node: "n1" }, { name: "b", node: "n2" }],
      deleted: ["b:Misscheduled"],
      // Counted from what the pass saw, as Kubernetes does: the next pass sees it gone.
      misscheduled: 1,
      desired: 1,
    },
    {
      name: "a node that went not ready keeps its pod (misscheduled meanwhile); node lifecycle does not evict it either",
      nodes: [{ name: "n1", ready: "Unknown" }, { name: "n2" }],
      pods: [{ name: "a", node: "n1", ready: false }, { name: "b", node: "n2" }],
      deleted: [],
      misscheduled: 1,
      desired: 1,
    },
    {
      name: "a new NoSchedule taint keeps the pod that is there",
      nodes: [{ name: "n1", taints: [{ key: "maintenance", effect: "NoSchedule" }] }],
      pods: [{ name: "a", node: "n1" }],
      deleted: [],
      misscheduled: 1,
      desired: 0,
    },
    {
      name: "a new untolerated NoExecute taint evicts the pod",
      nodes: [{ name: "n1", taints: [{ key: "maintenance", effect: "NoExecute" }] }],
      pods: [{ name: "a", node: "n1" }],
      deleted: ["a:Misscheduled"],
      misscheduled: 1,
      desired: 0,
    },
    {
      name: "a second pod on one node: the newer goes",
      nodes: [{ name: "n1" }],
      pods: [{ name: "older", node: "n1", created: 0 }, { name: "newer", node: "n1", created: 10 }],
      deleted: ["newer:Excess"],
      misscheduled: 0,
      desired: 1,
    },
  ];

  it.each(cases)("$name", ({ nodes, template, pods, deleted: expected, misscheduled, desired }) => {
    const result = plan({ ds: daemonSet({ template }), nodes, pods });
    expect(deleted(result.actions)).toEqual(expected);
    expect(createdOn(result.actions)).toEqual([]);
    expect(result.status).toMatchObject({ numberMisscheduled: misscheduled, desiredNumberScheduled: desired });
  });

  it("a pod deleted by hand is recreated on its node", () => {
    const result = plan({ nodes: threeNodes, pods: [{ name: "a", node: "n1" }, { name: "c", node: "n3" }] });
    expect(createdOn(result.actions)).toEqual(["n2"]);
  });
});

// ---------------------------------------------------------------- failed pods

describe("planDaemonSet: failed pods are replaced, with back-off per node", () => {
  const failed: PodFixture = { name: "crashed", node: "n1", phase: "Failed", ready: false };

  it("deletes a failed pod (FailedDaemonPod) and records the node's back-off; the next pass recreates it", () => {
    const result = plan({ nodes: ["n1"], pods: [failed] });
    expect(deleted(result.actions)).toEqual(["crashed:Failed"]);
    expect(createdOn(result.actions)).toEqual([]);
    expect(result.status.failedPodBackoff).toEqual({ n1: { delayMs: 1_000, lastAt: now.toISOString() } });
    expect(createdOn(plan({ nodes: ["n1"], pods: [] }).actions)).toEqual(["n1"]);
  });

  const backoffCases: { name: string; backoff: { delayMs: number; lastAt: string }; deletes: boolean; nextDelayMs?: number; requeueAfterMs?: number }[] = [
    { name: "within the back-off: kept, and looked at again when it ends", backoff: { delayMs: 4_000, lastAt: new Date(now.getTime() - 1_000).toISOString() }, deletes: false, requeueAfterMs: 3_000 },
    { name: "after the back-off: deleted, and the back-off doubles", backoff: { delayMs: 4_000, lastAt: new Date(now.getTime() - 4_000).toISOString() }, deletes: true, nextDelayMs: 8_000 },
    { name: "the back-off stops doubling at 15 minutes", backoff: { delayMs: 900_000, lastAt: new Date(now.getTime() - 900_000).toISOString() }, deletes: true, nextDelayMs: 900_000 },
    { name: "a node quiet for 30 minutes starts again at 1 s", backoff: { delayMs: 900_000, lastAt: new Date(now.getTime() - 1_800_001).toISOString() }, deletes: true, nextDelayMs: 1_000 },
  ];
  it.each(backoffCases)("$name", ({ backoff, deletes, nextDelayMs, requeueAfterMs }) => {
    const result = plan({ ds: daemonSet({ status: { failedPodBackoff: { n1: backoff } } }), nodes: ["n1"], pods: [failed] });
    expect(deleted(result.actions)).toEqual(deletes ? ["crashed:Failed"] : []);
    expect(createdOn(result.actions)).toEqual([]);
    if (nextDelayMs !== undefined) expect(result.status.failedPodBackoff["n1"]).toEqual({ delayMs: nextDelayMs, lastAt: now.toISOString() });
    if (requeueAfterMs !== undefined) expect(result.requeueAfterMs).toBe(requeueAfterMs);
  });

  it("with surge, a failed pod kept by its back-off is not joined by new pods on every pass", () => {
    const ds = daemonSet({
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      status: { failedPodBackoff: { n1: { delayMs: 4_000, lastAt: now.toISOString() } } },
    });
    expect(plan({ ds, nodes: ["n1"], pods: [failed] }).actions).toEqual([]);
  });
});

// ---------------------------------------------------------------- rolling updates

describe("planDaemonSet: RollingUpdate without surge (maxUnavailable)", () => {
  const cases: { name: string; maxUnavailable?: number | string; minReadySeconds?: number; pods: PodFixture[]; deleted: string[]; at?: number; requeueAfterMs?: number }[] = [
    { name: "maxUnavailable 1: one old pod at a time, in node order", pods: oldEverywhere, deleted: ["old-n1:Update"] },
    { name: "maxUnavailable 2: two at a time", maxUnavailable: 2, pods: oldEverywhere, deleted: ["old-n1:Update", "old-n2:Update"] },
    { name: '"50%" of 3 nodes rounds up to 2', maxUnavailable: "50%", pods: oldEverywhere, deleted: ["old-n1:Update", "old-n2:Update"] },
    {
      name: "waits while the new pod is not ready",
      pods: [{ name: "new-n1", node: "n1", ready: false }, oldEverywhere[1]!, oldEverywhere[2]!],
      deleted: [],
    },
    {
      name: "goes on once the new pod is available",
      pods: [{ name: "new-n1", node: "n1" }, oldEverywhere[1]!, oldEverywhere[2]!],
      deleted: ["old-n2:Update"],
    },
    {
      name: "a ready new pod counts as unavailable until minReadySeconds have passed, and the plan looks again then",
      minReadySeconds: 30,
      pods: [{ name: "new-n1", node: "n1", readyAt: 3590 }, oldEverywhere[1]!, oldEverywhere[2]!],
      deleted: [],
      requeueAfterMs: 20_000,
    },
    {
      name: "old pods that are not available are replaced at once and, as in Kubernetes, do not count against maxUnavailable",
      pods: [oldEverywhere[0]!, { ...oldEverywhere[1]!, ready: false }, { ...oldEverywhere[2]!, ready: false }],
      deleted: ["old-n2:Update", "old-n3:Update", "old-n1:Update"],
    },
    {
      name: "a node with an old and a new pod (manage is settling it) counts as unavailable",
      pods: [oldEverywhere[0]!, { name: "new-n1", node: "n1", created: 100 }, oldEverywhere[1]!, oldEverywhere[2]!],
      deleted: ["new-n1:Excess"],
    },
    {
      name: "a node still missing its pod counts as unavailable",
      pods: [oldEverywhere[1]!, oldEverywhere[2]!],
      deleted: [],
    },
  ];

  it.each(cases)("$name", ({ maxUnavailable, minReadySeconds, pods, deleted: expected, requeueAfterMs }) => {
    const ds = daemonSet({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: maxUnavailable ?? 1 } }, minReadySeconds });
    const result = plan({ ds, nodes: threeNodes, pods });
    expect(deleted(result.actions)).toEqual(expected);
    if (requeueAfterMs !== undefined) expect(result.requeueAfterMs).toBe(requeueAfterMs);
  });

  it("the node whose old pod was deleted gets the current template on the next pass", () => {
    const result = plan({ nodes: threeNodes, pods: [oldEverywhere[1]!, oldEverywhere[2]!] });
    expect(result.actions).toEqual([expect.objectContaining({ type: "createPod", node: "n1", labels: expect.objectContaining({ [daemonRevisionHashLabel]: current }) })]);
  });
});

describe("planDaemonSet: RollingUpdate with surge (maxSurge, maxUnavailable 0)", () => {
  const surge = (maxSurge: number | string, minReadySeconds = 0) =>
    daemonSet({ updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge, maxUnavailable: 0 } }, minReadySeconds });

  const cases: { name: string; maxSurge?: number | string; minReadySeconds?: number; pods: PodFixture[]; createdOn: string[]; deleted: string[] }[] = [
    { name: "maxSurge 1: a new pod beside the first old one, nothing deleted", pods: oldEverywhere, createdOn: ["n1"], deleted: [] },
    { name: "maxSurge 2: beside two", maxSurge: 2, pods: oldEverywhere, createdOn: ["n1", "n2"], deleted: [] },
    {
      name: "while the new pod is not yet available, the old one stays and no further surge starts",
      pods: [...oldEverywhere, { name: "new-n1", node: "n1", ready: false, created: 100 }],
      createdOn: [],
      deleted: [],
    },
    {
      name: "minReadySeconds: ready is not yet available",
      minReadySeconds: 60,
      pods: [...oldEverywhere, { name: "new-n1", node: "n1", readyAt: 3570, created: 100 }],
      createdOn: [],
      deleted: [],
    },
    {
      name: "once the new pod is available, the old one on that node goes and the next node surges",
      pods: [...oldEverywhere, { name: "new-n1", node: "n1", created: 100 }],
      createdOn: ["n2"],
      deleted: ["old-n1:Update"],
    },
    {
      name: "an old pod that is not available gets its new pod at once, beyond maxSurge",
      pods: [oldEverywhere[0]!, { ...oldEverywhere[1]!, ready: false }, { ...oldEverywhere[2]!, ready: false }],
      createdOn: ["n2", "n3", "n1"],
      deleted: [],
    },
  ];

  it.each(cases)("$name", ({ maxSurge, minReadySeconds, pods, createdOn: expected, deleted: expectedDeletes }) => {
    const result = plan({ ds: surge(maxSurge ?? 1, minReadySeconds), nodes: threeNodes, pods });
    expect(createdOn(result.actions)).toEqual(expected);
    expect(deleted(result.actions)).toEqual(expectedDeletes);
  });

  it("never leaves a node without a pod: the old pod goes after the new one is there", () => {
    let pods: PodFixture[] = [{ name: "old", node: "n1", template: "old" }];
    const first = plan({ ds: surge(1), nodes: ["n1"], pods });
    expect(createdOn(first.actions)).toEqual(["n1"]);
    expect(deleted(first.actions)).toEqual([]);
    pods = [...pods, { name: "new", node: "n1", created: 100 }];
    expect(deleted(plan({ ds: surge(1), nodes: ["n1"], pods }).actions)).toEqual(["old:Update"]);
  });
});

describe("planDaemonSet: OnDelete", () => {
  const onDelete = daemonSet({ updateStrategy: { type: "OnDelete" } });

  it("leaves pods of an older template running", () => {
    const result = plan({ ds: onDelete, nodes: threeNodes, pods: oldEverywhere });
    expect(result.actions).toEqual([]);
    expect(result.status).toMatchObject({ updatedNumberScheduled: 0, numberAvailable: 3, health: "Healthy" });
    expect(result.status.conditions.find((condition) => condition.type === "Progressing")).toMatchObject({ reason: "WaitingForPodDeletion" });
  });

  it("recreates a pod deleted by hand with the current template", () => {
    const result = plan({ ds: onDelete, nodes: threeNodes, pods: oldEverywhere.slice(1) });
    expect(result.actions).toEqual([expect.objectContaining({ type: "createPod", node: "n1", labels: expect.objectContaining({ [daemonRevisionHashLabel]: current }) })]);
  });
});

// ---------------------------------------------------------------- status

describe("planDaemonSet: status", () => {
  it("counts each node once, by its oldest pod, as Kubernetes' updateDaemonSetStatus", () => {
    const result = plan({
      ds: daemonSet({ minReadySeconds: 10 }),
      nodes: [{ name: "n1" }, { name: "n2" }, { name: "n3" }, { name: "n4" }, { name: "n5" }, { name: "down", ready: "Unknown" }],
      pods: [
        { name: "updated-available", node: "n1" },
        { name: "updated-ready-not-yet-available", node: "n2", readyAt: 3595 },
        { name: "old-available", node: "n3", template: "old" },
        { name: "updated-not-ready", node: "n4", ready: false },
        { name: "on-a-down-node", node: "down" },
      ],
    });
    expect(result.status).toMatchObject({
      observedGeneration: 3,
      desiredNumberScheduled: 5,
      currentNumberScheduled: 4,
      numberMisscheduled: 1,
      numberReady: 3,
      numberAvailable: 2,
      numberUnavailable: 3,
      updatedNumberScheduled: 3,
      currentRevisionHash: current,
      health: "Progressing",
    });
    expect(result.status.conditions).toMatchObject([
      { type: "Available", status: "False", reason: "MinimumPodsUnavailable" },
      { type: "Progressing", status: "True", reason: "PodsUpdating" },
    ]);
  });

  it("is Healthy with NewPodsAvailable once every node runs the current template, available; the conditions' times then stay put", () => {
    const pods = threeNodes.map((name) => ({ name, node: name }));
    const first = plan({ nodes: threeNodes, pods });
    expect(first.status).toMatchObject({ desiredNumberScheduled: 3, numberAvailable: 3, updatedNumberScheduled: 3, numberUnavailable: 0, health: "Healthy" });
    expect(first.status.conditions).toEqual([
      expect.objectContaining({ type: "Available", status: "True", reason: "MinimumPodsAvailable" }),
      expect.objectContaining({ type: "Progressing", status: "True", reason: "NewPodsAvailable", message: 'daemon set "shipper" successfully rolled out' }),
    ]);
    const later = plan({ ds: daemonSet({ status: first.status }), nodes: threeNodes, pods, at: at(7200) });
    expect(later.status.conditions).toEqual(first.status.conditions);
    expect(later.actions).toEqual([]);
  });

  it("does nothing for a DaemonSet being deleted, but still reports", () => {
    const result = plan({ ds: { ...daemonSet(), deletedAt: at(10) }, nodes: threeNodes });
    expect(result.actions).toEqual([]);
    expect(result.status.desiredNumberScheduled).toBe(3);
  });
});

describe("planDaemonSet: the examples-repo log shipper", () => {
  it("would run one pod on the local node, bound there, its tolerations kept", async () => {
    const { objects, problems } = validateFiles(await loadDirectory(join(import.meta.dirname, "../../examples-repo")));
    expect(problems.filter((problem) => problem.severity === "error")).toEqual([]);
    const manifest = objects.find((object) => object.kind === "DaemonSet" && object.name === "log-shipper")!;
    const local = objects.find((object) => object.kind === "Node")!;
    const result = planDaemonSet({
      daemonSet: storedObject({ kind: "DaemonSet", name: manifest.name, namespace: manifest.namespace, spec: manifest.spec }),
      nodes: [{ ...node(local.name), spec: local.spec, labels: local.labels }],
      pods: [],
      now,
      nameSeed: "seed",
    });
    expect(result.actions).toEqual([expect.objectContaining({ type: "createPod", node: "local", spec: expect.objectContaining({ nodeName: "local" }) })]);
    const action = result.actions[0]!;
    expect(action.type === "createPod" && action.spec.tolerations?.[0]).toEqual({ operator: "Exists" });
  });
});
