import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore, statefulSetKind, type ObjectKey, type StoredObject } from "../../src/desired/index.ts";
import { podReconciler, statefulSetReconciler } from "../../src/reconcilers/index.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { reconcileContext } from "../helpers/reconcile-context.ts";

/** The StatefulSet reconciler and the scheduler's claim binding, together on real PostgreSQL. */

const database = useTestDatabase();
let store: PgDesiredStore;
const clock = new ManualClock();
const setKey: ObjectKey = { kind: "StatefulSet", namespace: "default", name: "kv" };

function context(source: string): ReconcileContext {
  return reconcileContext(store, clock, source);
}

async function addNode(name: string): Promise<void> {
  await store.createObject({ apiVersion: "capstan.dev/v1", kind: "Node", namespace: "", name, spec: { transport: "ssh", address: "127.0.0.1", port: 22, user: "root", unschedulable: false } });
  await store.updateStatuses([
    {
      key: { kind: "Node", namespace: "", name },
      status: { conditions: [{ type: "Ready", status: "True", lastTransitionTime: clock.now().toISOString() }], capacity: { cpuMillis: 4000, memoryBytes: 8 * 1024 ** 3 }, nodeInfo: { runtimes: ["process"] } },
    },
  ]);
}

async function createSet(spec: Record<string, unknown>): Promise<StoredObject> {
  const manifest = statefulSetKind.schema.parse({
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "kv" },
    spec: {
      replicas: 3,
      serviceName: "kv",
      selector: { matchLabels: { app: "kv" } },
      template: { metadata: { labels: { app: "kv" } }, spec: { containers: [{ name: "kv", command: ["kv"], volumeMounts: [{ name: "data", mountPath: "/data" }] }] } },
      volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } }],
      ...spec,
    },
  });
  return store.createObject({ apiVersion: "apps/v1", kind: "StatefulSet", namespace: "default", name: "kv", spec: statefulSetKind.specOf(manifest) });
}

const scheduler = podReconciler({ snapshotTtlMs: 0 });
const reconcileSet = () => statefulSetReconciler.reconcile(context("statefulset-controller"), setKey);
const schedulePod = (name: string) => scheduler.reconcile(context("scheduler"), { kind: "Pod", namespace: "default", name });
const podNames = async () => (await store.listObjects({ kind: "Pod", namespace: "default" })).map((pod) => pod.name);
const nodeOf = async (name: string) => ((await store.getObject({ kind: "Pod", namespace: "default", name }))!.spec as { nodeName?: string }).nodeName;
const claim = (name: string) => store.getObject({ kind: "PersistentVolumeClaim", namespace: "default", name });

async function markReady(name: string): Promise<void> {
  const at = clock.now().toISOString();
  await store.updateStatuses([
    { key: { kind: "Pod", namespace: "default", name }, status: { phase: "Running", ready: true, startTime: at, conditions: [{ type: "Ready", status: "True", lastTransitionTime: at }] } },
  ]);
}

beforeEach(async () => {
  store = new PgDesiredStore(database().pool);
  await database().pool.query("DELETE FROM objects");
  for (const node of ["n1", "n2", "n3"]) await addNode(node);
});

afterEach(async () => {
  await database().pool.query("DELETE FROM events");
});

describe("StatefulSet reconciler on PostgreSQL", () => {
  it("creates kv-0, kv-1, kv-2 one at a time, each after the previous is ready, with claims bound where their pod lands", async () => {
    await createSet({});
    const created: string[] = [];
    for (const ordinal of [0, 1, 2]) {
      await reconcileSet();
      await reconcileSet(); // nothing more while the new pod is not ready
      expect(await podNames()).toEqual(["kv-0", "kv-1", "kv-2"].slice(0, ordinal + 1));
      const name = `kv-${ordinal}`;
      created.push(name);
      await schedulePod(name);
      const node = await nodeOf(name);
      expect(node).toMatch(/^n[123]$/);
      expect((await claim(`data-${name}`))!.status).toMatchObject({ phase: "Bound", nodeName: node, nodes: [node], finalizers: ["capstan.dev/claim-directory"] });
      await markReady(name);
    }
    await reconcileSet();
    const set = (await store.getObject(setKey))!;
    expect(set.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3, currentReplicas: 3, health: "Healthy" });
    expect(set.observedGeneration).toBe(set.generation);
    const pod = (await store.getObject({ kind: "Pod", namespace: "default", name: "kv-1" }))!;
    expect(pod.ownerUid).toBe(set.uid);
    expect(pod.spec).toMatchObject({ hostname: "kv-1", subdomain: "kv", volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-kv-1" } }] });
    expect(pod.labels).toMatchObject({ "statefulset.kubernetes.io/pod-name": "kv-1", "apps.kubernetes.io/pod-index": "1" });
    const events = await store.listEvents({ kind: "StatefulSet", name: "kv", limit: 20 });
    expect(events.filter((event) => event.reason === "SuccessfulCreate").map((event) => event.message).reverse()).toEqual([
      "create Claim data-kv-0 Pod kv-0 in StatefulSet kv success",
      "create Pod kv-0 in StatefulSet kv successful",
      "create Claim data-kv-1 Pod kv-1 in StatefulSet kv success",
      "create Pod kv-1 in StatefulSet kv successful",
      "create Claim data-kv-2 Pod kv-2 in StatefulSet kv success",
      "create Pod kv-2 in StatefulSet kv successful",
    ]);
  });

  it("hands its claims to the garbage collector (as their owner) when whenDeleted becomes Delete, and takes them back for Retain", async () => {
    const created = await createSet({ replicas: 1 });
    await reconcileSet();
    expect((await claim("data-kv-0"))!.ownerUid).toBeNull();
    const withPolicy = (whenDeleted: string) => async () => {
      const set = (await store.getObject(setKey))!;
      await store.updateObject(setKey, set.resourceVersion, { spec: { ...set.spec, persistentVolumeClaimRetentionPolicy: { whenDeleted, whenScaled: "Retain" } } });
      await reconcileSet();
    };
    await withPolicy("Delete")();
    expect((await claim("data-kv-0"))!.ownerUid).toBe(created.uid);
    await withPolicy("Retain")();
    expect((await claim("data-kv-0"))!.ownerUid).toBeNull();
  });

  it("brings a lost pod back under its name on the node that holds its claim", async () => {
    await createSet({ replicas: 1 });
    await reconcileSet();
    await schedulePod("kv-0");
    const first = await nodeOf("kv-0");
    const firstUid = (await store.getObject({ kind: "Pod", namespace: "default", name: "kv-0" }))!.uid;
    await store.deleteObject({ kind: "Pod", namespace: "default", name: "kv-0" });
    for (let attempt = 0; attempt < 3; attempt++) {
      // Not replaced while the node may still run it (the pod-termination finalizer) ...
      await reconcileSet();
      expect(await podNames()).toEqual([]);
      const [terminating] = await store.listObjects({ kind: "Pod", deleted: true });
      expect(terminating!.status).toMatchObject({ finalizers: ["capstan.dev/pod-termination"] });
      // ... until the node link has seen its processes end and purged it.
      expect(await store.purgeObject(terminating!.uid)).toBe(true);
      await reconcileSet();
      await schedulePod("kv-0");
      expect(await nodeOf("kv-0")).toBe(first);
      const again = (await store.getObject({ kind: "Pod", namespace: "default", name: "kv-0" }))!;
      expect(again.uid).not.toBe(firstUid);
      await store.deleteObject({ kind: "Pod", namespace: "default", name: "kv-0" });
    }
  });

  it("keeps a pod whose claim does not exist Pending, saying which claim, and schedules it once the claim appears", async () => {
    await store.createObject({
      apiVersion: "v1",
      kind: "Pod",
      namespace: "default",
      name: "reader",
      ownerUid: "00000000-0000-4000-8000-000000000009",
      spec: { containers: [{ name: "c", command: ["true"] }], volumes: [{ name: "d", persistentVolumeClaim: { claimName: "uploads" } }] },
    });
    expect((await schedulePod("reader")).requeueAfterMs).toBeGreaterThan(0);
    const pending = (await store.getObject({ kind: "Pod", namespace: "default", name: "reader" }))!;
    const message = 'persistentvolumeclaim "uploads" not found: the pod waits until it exists';
    expect(pending.status).toMatchObject({ phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message }] });
    expect(await store.listEvents({ name: "reader" })).toMatchObject([{ type: "Warning", reason: "FailedScheduling", message }]);

    const created = await store.createObject({ apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: "default", name: "uploads", spec: { accessModes: ["ReadWriteOnce"] } });
    const keys = await scheduler.keysFor!(
      { kind: "PersistentVolumeClaim", namespace: "default", name: "uploads", uid: created.uid, resourceVersion: created.resourceVersion, op: "INSERT", deleted: false, statusOnly: false },
      context("scheduler"),
    );
    expect(keys).toEqual([{ kind: "Pod", namespace: "default", name: "reader" }]);
    await schedulePod("reader");
    expect(await nodeOf("reader")).toMatch(/^n[123]$/);
  });

  it("deletes scaled-away claims with whenScaled Delete, and keeps the deleted claim (finalizer) until its directory is reclaimed", async () => {
    await createSet({ replicas: 2, podManagementPolicy: "Parallel", persistentVolumeClaimRetentionPolicy: { whenScaled: "Delete" } });
    await reconcileSet();
    for (const name of ["kv-0", "kv-1"]) {
      await schedulePod(name);
      await markReady(name);
    }
    const set = (await store.getObject(setKey))!;
    await store.updateObject(setKey, set.resourceVersion, { spec: { ...set.spec, replicas: 1 } });
    await reconcileSet();
    expect(await podNames()).toEqual(["kv-0"]);
    await reconcileSet();
    // Its pod is still terminating (the node link has not confirmed): the claim stays.
    expect(await claim("data-kv-1")).not.toBeNull();
    const [terminating] = await store.listObjects({ kind: "Pod", deleted: true });
    await store.purgeObject(terminating!.uid);
    await reconcileSet();
    expect(await claim("data-kv-1")).toBeNull();
    expect(await claim("data-kv-0")).not.toBeNull();
    const deleted = await store.listObjects({ kind: "PersistentVolumeClaim", deleted: true });
    expect(deleted.map((object) => object.name)).toEqual(["data-kv-1"]);
    expect(await store.purgeDeleted(new Date(Date.now() + 3_600_000))).toBe(0); // the claim waits for its node link
    expect((await store.listObjects({ kind: "PersistentVolumeClaim", deleted: true })).map((object) => object.name)).toEqual(["data-kv-1"]);
  });
});

describe("an autoscaled StatefulSet", () => {
  it("runs the autoscaler's decided replicas instead of Git's, and Git's again once the autoscaler is gone", async () => {
    await createSet({ replicas: 1, podManagementPolicy: "Parallel" });
    const autoscaler = await store.createObject({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      namespace: "default",
      name: "kv",
      spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "StatefulSet", name: "kv" }, minReplicas: 1, maxReplicas: 5 },
    });
    await store.updateStatuses([{ key: { kind: "HorizontalPodAutoscaler", namespace: "default", name: "kv" }, status: { scaleTarget: "StatefulSet/kv", desiredReplicas: 3 } }]);
    // The autoscaler's status write is routed to the set it targets.
    const change = { kind: "HorizontalPodAutoscaler", namespace: "default", name: "kv", uid: autoscaler.uid, resourceVersion: 0, op: "UPDATE" as const, deleted: false, statusOnly: true };
    expect(await statefulSetReconciler.keysFor!(change, context("statefulset-controller"))).toEqual([setKey]);

    await reconcileSet();
    expect((await podNames()).sort()).toEqual(["kv-0", "kv-1", "kv-2"]);

    await store.deleteObject({ kind: "HorizontalPodAutoscaler", namespace: "default", name: "kv" }, { uid: autoscaler.uid });
    await reconcileSet();
    const live = (await store.listObjects({ kind: "Pod", namespace: "default" })).map((pod) => pod.name);
    // Scale-down starts from the highest ordinal; Git's replicas (1) is the target again.
    expect(live).not.toContain("kv-2");
    expect(live).toContain("kv-0");
  });
});
