import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { MemoryDesiredStore, type StoredObject } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { GarbageCollector, planGarbage } from "../../src/reconcilers/gc.ts";
import { storedObject } from "../helpers/stored-object.ts";

function object(kind: string, name: string, fields: Partial<StoredObject> = {}): StoredObject {
  return storedObject({ kind, name, uid: `${kind}-${name}`, namespace: "shop", specHash: "h", ...fields });
}

describe("planGarbage", () => {
  it("collects controller-made objects whose owner or namespace is gone, and nothing from Git", () => {
    const namespace = object("Namespace", "shop", { namespace: "", source: "git" });
    const deployment = object("Deployment", "web", { source: "git" });
    const owned = object("ReplicaSet", "web-1", { ownerUid: deployment.uid });
    const orphan = object("ReplicaSet", "old-1", { ownerUid: "Deployment-gone" });
    const orphanPod = object("Pod", "old-1-x", { ownerUid: orphan.uid });
    const strayNamespace = object("Pod", "stray", { namespace: "deleted-ns" });
    const gitPodInDefault = object("Pod", "hand", { namespace: "default", source: "git" });
    const garbage = planGarbage([namespace, deployment, owned, orphan, orphanPod, strayNamespace, gitPodInDefault]);
    // The orphan's pod still has a live owner in this pass: it goes in the next (the collector repeats).
    expect(garbage.map((entry) => entry.name)).toEqual(["old-1", "stray"]);
  });
});

describe("GarbageCollector", () => {
  it("deletes a whole ownership chain in one sweep when its root goes", async () => {
    const store = new MemoryDesiredStore();
    const deployment = await store.createObject({ apiVersion: "apps/v1", kind: "Deployment", namespace: "default", name: "web", spec: {} });
    const replicaSet = await store.createObject({ apiVersion: "apps/v1", kind: "ReplicaSet", namespace: "default", name: "web-1", spec: {}, ownerUid: deployment.uid });
    await store.createObject({ apiVersion: "v1", kind: "Pod", namespace: "default", name: "web-1-a", spec: {}, ownerUid: replicaSet.uid });
    const collector = new GarbageCollector({ store, clock: systemClock, log: silentLogger });
    expect(await collector.sweepOnce()).toBe(0);
    await store.deleteObject({ kind: "Deployment", namespace: "default", name: "web" });
    expect(await collector.sweepOnce()).toBe(2);
    expect(await store.listObjects()).toEqual([]);
  });
});
