import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { MemoryDesiredStore, type ObjectKey } from "../../src/desired/index.ts";
import { podReconciler } from "../../src/reconcilers/index.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { reconcileContext } from "../helpers/reconcile-context.ts";

/** The Pod reconciler on the in-memory store: binding through the scheduler stack, FailedScheduling, node gone. */

function context(store: MemoryDesiredStore): ReconcileContext {
  return reconcileContext(store, systemClock, "scheduler");
}

async function addNode(store: MemoryDesiredStore, name: string, options: { ready?: boolean; memory?: string; taint?: boolean } = {}) {
  await store.createObject({
    apiVersion: "capstan.dev/v1",
    kind: "Node",
    namespace: "",
    name,
    spec: {
      transport: "ssh",
      address: "127.0.0.1",
      port: 22,
      user: "root",
      unschedulable: false,
      ...(options.taint ? { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] } : {}),
      ...(options.memory ? { capacity: { memory: options.memory } } : {}),
    },
  });
  await store.updateStatuses([
    {
      key: { kind: "Node", namespace: "", name },
      status: {
        conditions: [{ type: "Ready", status: options.ready === false ? "Unknown" : "True", lastTransitionTime: new Date().toISOString() }],
        capacity: { cpuMillis: 4000, memoryBytes: 8 * 1024 ** 3 },
        nodeInfo: { runtimes: ["process"] },
      },
    },
  ]);
}

async function addPod(store: MemoryDesiredStore, name: string, spec: Record<string, unknown> = {}, ownerUid?: string, annotations: Record<string, string> = {}): Promise<ObjectKey> {
  await store.createObject({
    apiVersion: "v1",
    kind: "Pod",
    namespace: "default",
    name,
    annotations,
    spec: { containers: [{ name: "c", command: ["true"], resources: { requests: { memory: "1Gi" } } }], restartPolicy: "Always", terminationGracePeriodSeconds: 30, ...spec },
    ...(ownerUid ? { ownerUid } : {}),
  });
  return { kind: "Pod", namespace: "default", name };
}

describe("pod reconciler", () => {
  it("binds a pending pod to a node that fits and records Scheduled", async () => {
    const store = new MemoryDesiredStore();
    await addNode(store, "small", { memory: "512Mi" });
    await addNode(store, "big");
    const key = await addPod(store, "p");
    await podReconciler().reconcile(context(store), key);
    expect(((await store.getObject(key))!.spec as { nodeName?: string }).nodeName).toBe("big");
    expect((await store.listEvents()).map((event) => event.reason)).toEqual(["Scheduled"]);
  });

  it("leaves a pod that fits nowhere Pending with the reasons counted, and retries later", async () => {
    const store = new MemoryDesiredStore();
    await addNode(store, "a", { memory: "512Mi" });
    await addNode(store, "b", { memory: "512Mi" });
    await addNode(store, "c", { taint: true });
    await addNode(store, "d", { ready: false });
    const key = await addPod(store, "p");
    const result = await podReconciler().reconcile(context(store), key);
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    const pod = (await store.getObject(key))!;
    expect((pod.spec as { nodeName?: string }).nodeName).toBeUndefined();
    const message = "0/4 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were not ready.";
    expect(pod.status).toMatchObject({ phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message }] });
    expect(await store.listEvents()).toMatchObject([{ type: "Warning", reason: "FailedScheduling", message }]);
  });

  it("deletes a pod it bound to a node that no longer exists; leaves one whose template names the node, and a hand-written one", async () => {
    const store = new MemoryDesiredStore();
    const owner = "00000000-0000-4000-8000-000000000001";
    const bound = await addPod(store, "bound", { nodeName: "gone" }, owner, { "capstan.dev/bound-by": "scheduler" });
    const pinned = await addPod(store, "pinned", { nodeName: "gone" }, owner);
    const handWritten = await addPod(store, "hand", { nodeName: "gone" });
    const reconciler = podReconciler();
    await reconciler.reconcile(context(store), bound);
    // Deleting this one would loop: its ReplicaSet would make it again, bound to the same missing node.
    expect(await reconciler.reconcile(context(store), pinned)).toEqual({ requeueAfterMs: 30_000 });
    await reconciler.reconcile(context(store), handWritten);
    expect(await store.getObject(bound)).toBeNull();
    expect(await store.getObject(pinned)).not.toBeNull();
    expect(await store.getObject(handWritten)).not.toBeNull();
  });

  it("spreads one owner's pods over equal nodes even when they are scheduled concurrently", async () => {
    const store = new MemoryDesiredStore();
    for (const name of ["n1", "n2", "n3"]) await addNode(store, name);
    const owner = "00000000-0000-4000-8000-000000000002";
    const keys = await Promise.all(Array.from({ length: 6 }, (_, index) => addPod(store, `p${index}`, {}, owner)));
    const reconciler = podReconciler();
    await Promise.all(keys.map((key) => reconciler.reconcile(context(store), key)));
    const perNode = new Map<string, number>();
    for (const pod of await store.listObjects({ kind: "Pod" })) {
      const node = (pod.spec as { nodeName: string }).nodeName;
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
    expect(Object.fromEntries(perNode)).toEqual({ n1: 2, n2: 2, n3: 2 });
  });
});

describe("pod reconciler at scale", () => {
  it("keeps a snapshot whose listing took longer than its time to live, instead of listing every pod again for every pod", async () => {
    const clock = new ManualClock();
    const store = new MemoryDesiredStore();
    for (const name of ["n1", "n2"]) await addNode(store, name);
    const keys: ObjectKey[] = [];
    for (let index = 0; index < 10; index++) keys.push(await addPod(store, `p${index}`));
    const list = store.listObjects.bind(store);
    let podListings = 0;
    store.listObjects = async (filter) => {
      if (filter?.kind === "Pod") {
        podListings++;
        // A listing of 30,000 pods on a loaded machine: longer than the snapshot's 1 s.
        await clock.advance(2_000);
      }
      return list(filter);
    };
    const reconciler = podReconciler();
    for (const key of keys) await reconciler.reconcile(reconcileContext(store, clock, "scheduler"), key);
    const bound = (await list({ kind: "Pod" })).filter((pod) => (pod.spec as { nodeName?: string }).nodeName);
    expect(bound).toHaveLength(10);
    expect(podListings).toBe(1);
    // Still re-read once the longer time has passed (4 × the listing's 2 s).
    await clock.advance(8_000);
    await reconciler.reconcile(reconcileContext(store, clock, "scheduler"), await addPod(store, "late"));
    expect(podListings).toBe(2);
  });
});

describe("pod reconciler keysFor at scale", () => {
  it("lists the pods once for node changes that arrive together, and still maps each to the pods waiting", async () => {
    const store = new MemoryDesiredStore();
    const names = Array.from({ length: 20 }, (_, index) => `n${index}`);
    for (const name of names) await addNode(store, name);
    await addPod(store, "waiting");
    await addPod(store, "bound", { nodeName: "n3" });
    const list = store.listObjects.bind(store);
    let podListings = 0;
    store.listObjects = async (filter) => {
      if (filter?.kind === "Pod") podListings++;
      return list(filter);
    };
    const reconciler = podReconciler();
    const ctx = reconcileContext(store, systemClock, "scheduler");
    const change = (name: string, statusOnly: boolean) =>
      ({ kind: "Node", namespace: "", name, uid: name, resourceVersion: 1, op: "UPDATE", deleted: false, statusOnly }) as const;
    // Every node seen Ready for the first time (readiness changes), and one spec change.
    const keys = await Promise.all([...names.map((name) => reconciler.keysFor!(change(name, true), ctx)), reconciler.keysFor!(change("n3", false), ctx)]);
    expect(podListings).toBe(1);
    expect(keys.slice(0, 20).every((found) => found.length === 1 && found[0]!.name === "waiting")).toBe(true);
    expect(keys[20]!.map((key) => key.name).sort()).toEqual(["bound", "waiting"]);
  });
});
