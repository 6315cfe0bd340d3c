import { beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore, validateFiles, type CommitInfo, type ObjectKey, type StoredObject } from "../../src/desired/index.ts";
import { daemonSetReconciler, nodeLifecycleReconciler, podReconciler, type ObjectChange, type Reconciler } from "../../src/reconcilers/index.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { reconcileContext } from "../helpers/reconcile-context.ts";

/**
 * The DaemonSet reconciler on real PostgreSQL: commits applied as gitsync
 * applies them, node readiness written as the node link writes it, each
 * reconciler driven by hand so that every step can be looked at.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
let clock: ManualClock;
let commits = 0;
const key: ObjectKey = { kind: "DaemonSet", namespace: "default", name: "shipper" };

function context(source: string): ReconcileContext {
  return reconcileContext(store, clock, source);
}

function nodeManifest(name: string): string {
  return `apiVersion: capstan.dev/v1
kind: Node
metadata: { name: ${name} }
spec: { address: 127.0.0.1 }
`;
}

function daemonSetManifest(version: string): string {
  return `apiVersion: apps/v1
kind: DaemonSet
metadata: { name: shipper, namespace: default }
spec:
  selector: { matchLabels: { app: shipper } }
  template:
    metadata: { labels: { app: shipper } }
    spec:
      containers: [{ name: shipper, command: [ship], env: [{ name: VERSION, value: "${version}" }] }]
`;
}

/** Applies a commit of these nodes and the DaemonSet, as gitsync would; returns its sha. */
async function commit(nodes: string[], version = "v1"): Promise<string> {
  const { objects, problems } = validateFiles([{ path: "all.yaml", content: [...nodes.map(nodeManifest), daemonSetManifest(version)].join("---\n") }]);
  expect(problems).toEqual([]);
  commits += 1;
  const info: CommitInfo = { sha: `sha-${commits}`, parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: clock.now() };
  await store.applyRevision(info, objects, []);
  return info.sha;
}

/** The node link's write: Ready with the time it became so. */
async function setReady(node: string, status: "True" | "Unknown", since: Date = clock.now()): Promise<void> {
  await store.updateStatuses([
    {
      key: { kind: "Node", namespace: "", name: node },
      status: { conditions: [{ type: "Ready", status, reason: status === "True" ? "AgentReady" : "ConnectionLost", lastTransitionTime: since.toISOString() }], nodeInfo: { runtimes: ["process"] } },
    },
  ]);
}

async function daemonPods(): Promise<StoredObject[]> {
  const daemonSet = await store.getObject(key);
  return store.listObjects({ kind: "Pod", namespace: "default", ownerUid: daemonSet!.uid });
}

const nodeOf = (pod: StoredObject) => (pod.spec as { nodeName?: string }).nodeName;

async function reconcileDaemonSet(reconciler: Reconciler = daemonSetReconciler()) {
  return reconciler.reconcile(context("daemonset-controller"), key);
}

async function reasons(): Promise<string[]> {
  return (await store.listEvents({ kind: "DaemonSet", name: "shipper", limit: 100 })).map((event) => event.reason).sort();
}

beforeEach(async () => {
  store = new PgDesiredStore(database().pool);
  clock = new ManualClock();
  await database().pool.query("DELETE FROM objects; DELETE FROM events");
});

describe("DaemonSet reconciler on PostgreSQL", () => {
  it("creates one pod per ready node, bound, owned, labelled and annotated with the commit; the scheduler leaves them alone", async () => {
    const sha = await commit(["n1", "n2", "n3"]);
    for (const node of ["n1", "n2", "n3"]) await setReady(node, "True");
    await reconcileDaemonSet();

    const pods = await daemonPods();
    expect(pods.map(nodeOf).sort()).toEqual(["n1", "n2", "n3"]);
    const daemonSet = (await store.getObject(key))!;
    for (const pod of pods) {
      expect(pod).toMatchObject({ ownerUid: daemonSet.uid, source: "controller", annotations: { "capstan.dev/commit": sha } });
      expect(pod.labels).toEqual({ app: "shipper", "controller-revision-hash": expect.stringMatching(/^[0-9a-f]{10}$/) });
    }
    expect(await reasons()).toEqual(["SuccessfulCreate", "SuccessfulCreate", "SuccessfulCreate"]);

    // Already bound: the scheduler does not move it and records nothing.
    const scheduler = podReconciler();
    await scheduler.reconcile(context("scheduler"), { kind: "Pod", namespace: "default", name: pods[0]!.name });
    expect(nodeOf((await store.getObject({ kind: "Pod", namespace: "default", name: pods[0]!.name }))!)).toBe(nodeOf(pods[0]!));
    expect(await store.listEvents({ kind: "Pod" })).toEqual([]);

    await reconcileDaemonSet();
    expect((await store.getObject(key))!).toMatchObject({
      observedGeneration: 1,
      status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 0, numberAvailable: 0, health: "Progressing" },
    });
  });

  it("follows a node added to Git once it is ready, and a node removed from Git", async () => {
    await commit(["n1", "n2"]);
    for (const node of ["n1", "n2"]) await setReady(node, "True");
    await reconcileDaemonSet();

    await commit(["n1", "n2", "n3"]);
    await reconcileDaemonSet();
    expect((await daemonPods()).map(nodeOf).sort()).toEqual(["n1", "n2"]); // n3 has not answered yet
    await setReady("n3", "True");
    await reconcileDaemonSet();
    expect((await daemonPods()).map(nodeOf).sort()).toEqual(["n1", "n2", "n3"]);

    await commit(["n1", "n3"]);
    await reconcileDaemonSet();
    expect((await daemonPods()).map(nodeOf).sort()).toEqual(["n1", "n3"]);
    expect(await reasons()).toContain("SuccessfulDelete");
  });

  it("replaces a failed pod, reporting FailedDaemonPod, and backs off before the next", async () => {
    await commit(["n1"]);
    await setReady("n1", "True");
    await reconcileDaemonSet();
    const [first] = await daemonPods();
    const fail = (pod: StoredObject) => store.updateStatuses([{ key: { kind: "Pod", namespace: "default", name: pod.name }, uid: pod.uid, status: { phase: "Failed", ready: false } }]);

    await fail(first!);
    await reconcileDaemonSet();
    expect(await daemonPods()).toEqual([]);
    const warning = (await store.listEvents({ kind: "DaemonSet" })).find((event) => event.reason === "FailedDaemonPod");
    expect(warning).toMatchObject({ type: "Warning", message: `Found failed daemon pod default/${first!.name} on node n1, will try to kill it` });
    await reconcileDaemonSet();
    const [second] = await daemonPods();
    expect(second!.name).not.toBe(first!.name);

    // It fails at once too: kept for the back-off (1 s doubled to 2 s), then replaced.
    await clock.advance(500);
    await fail(second!);
    expect(await reconcileDaemonSet()).toEqual({ requeueAfterMs: 500 });
    expect((await daemonPods()).map((pod) => pod.name)).toEqual([second!.name]);
    await clock.advance(500);
    await reconcileDaemonSet();
    expect(await daemonPods()).toEqual([]);
    expect((await store.getObject(key))!.status["failedPodBackoff"]).toEqual({ n1: { delayMs: 2_000, lastAt: clock.now().toISOString() } });
  });

  it("rolls a new template out one node at a time (maxUnavailable 1)", async () => {
    await commit(["n1", "n2", "n3"], "v1");
    for (const node of ["n1", "n2", "n3"]) await setReady(node, "True");
    await reconcileDaemonSet();
    const markReady = async () => {
      for (const pod of await daemonPods()) {
        await store.updateStatuses([{ key: { kind: "Pod", namespace: "default", name: pod.name }, uid: pod.uid, status: { phase: "Running", ready: true } }]);
      }
    };
    await markReady();
    const v1 = (await daemonPods()).map((pod) => pod.labels["controller-revision-hash"]);

    await commit(["n1", "n2", "n3"], "v2");
    for (let pass = 0; pass < 10; pass++) {
      await reconcileDaemonSet();
      const pods = await daemonPods();
      // Never two nodes at once without a pod that is ready.
      expect(pods.filter((pod) => (pod.status as { ready?: boolean }).ready).length).toBeGreaterThanOrEqual(2);
      await markReady();
    }
    const pods = await daemonPods();
    expect(pods.map(nodeOf).sort()).toEqual(["n1", "n2", "n3"]);
    expect(pods.every((pod) => pod.labels["controller-revision-hash"] !== v1[0])).toBe(true);
    expect((await store.getObject(key))!.status).toMatchObject({ updatedNumberScheduled: 3, numberAvailable: 3, health: "Healthy" });
  });

  it("keeps its pod on a node that stops answering, where node lifecycle evicts other controllers' pods", async () => {
    await commit(["n1", "n2"]);
    for (const node of ["n1", "n2"]) await setReady(node, "True");
    await reconcileDaemonSet();
    const replicaSet = await store.createObject({ apiVersion: "apps/v1", kind: "ReplicaSet", namespace: "default", name: "web-1", spec: {} });
    await store.createObject({ apiVersion: "v1", kind: "Pod", namespace: "default", name: "web-1-a", spec: { nodeName: "n1", containers: [] }, ownerUid: replicaSet.uid });

    await setReady("n1", "Unknown", clock.now());
    await clock.advance(60_000);
    await nodeLifecycleReconciler({ evictionGraceMs: 5_000 }).reconcile(context("node-lifecycle-controller"), { kind: "Node", namespace: "", name: "n1" });
    expect(await store.getObject({ kind: "Pod", namespace: "default", name: "web-1-a" })).toBeNull();
    expect((await daemonPods()).map(nodeOf).sort()).toEqual(["n1", "n2"]);

    // Nor does the DaemonSet remove it: it may stay, it is only no longer counted as desired.
    await reconcileDaemonSet();
    expect((await daemonPods()).map(nodeOf).sort()).toEqual(["n1", "n2"]);
    expect((await store.getObject(key))!.status).toMatchObject({ desiredNumberScheduled: 1, numberMisscheduled: 1 });
  });
});

describe("DaemonSet reconciler: what wakes it", () => {
  const change = (fields: Partial<ObjectChange> & Pick<ObjectChange, "kind" | "name">): ObjectChange => ({
    namespace: "",
    uid: "00000000-0000-4000-8000-000000000000",
    resourceVersion: 1,
    op: "UPDATE",
    deleted: false,
    statusOnly: false,
    ...fields,
  });

  it("a Node added or removed wakes every DaemonSet; a heartbeat wakes none; a change of readiness does", async () => {
    await commit(["n1"]);
    await setReady("n1", "True");
    const reconciler = daemonSetReconciler();
    const ctx = context("daemonset-controller");
    expect(await reconciler.keysFor!(change({ kind: "Node", name: "n2", op: "INSERT" }), ctx)).toEqual([key]);
    expect(await reconciler.keysFor!(change({ kind: "Node", name: "n2", op: "DELETE", deleted: true }), ctx)).toEqual([key]);
    expect(await reconciler.keysFor!(change({ kind: "Node", name: "n1", statusOnly: true }), ctx)).toEqual([key]); // first sight of its readiness
    expect(await reconciler.keysFor!(change({ kind: "Node", name: "n1", statusOnly: true }), ctx)).toEqual([]);
    await setReady("n1", "Unknown");
    expect(await reconciler.keysFor!(change({ kind: "Node", name: "n1", statusOnly: true }), ctx)).toEqual([key]);
  });

  it("a change to one of its pods, status included, wakes its owner", async () => {
    await commit(["n1"]);
    await setReady("n1", "True");
    await reconcileDaemonSet();
    const [pod] = await daemonPods();
    const reconciler = daemonSetReconciler();
    const podChange = change({ kind: "Pod", namespace: "default", name: pod!.name, uid: pod!.uid, ownerUid: pod!.ownerUid, statusOnly: true });
    expect(await reconciler.keysFor!(podChange, context("daemonset-controller"))).toEqual([key]);
    expect(await reconciler.keysFor!({ ...podChange, ownerUid: null }, context("daemonset-controller"))).toEqual([]);
  });
});
