import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { MemoryDesiredStore, type StoredObject } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { planClaimReclaim } from "../../src/nodes/client/claim-reclaim.ts";
import { terminatedPods, type NodeView } from "../../src/nodes/client/pod-termination.ts";
import { FakeNodeClient, NodeManager, type AgentTransport } from "../../src/nodes/index.ts";
import { eventually } from "../helpers/eventually.ts";
import { storedObject } from "../helpers/stored-object.ts";

/** Deletions the node link finishes: a pod whose processes must be seen to end, a bound claim whose directory must be dealt with. */

const bound = { phase: "Bound", nodeName: "n1", nodes: ["n1"], finalizers: ["capstan.dev/claim-directory"] };

function claim(name: string, options: { status?: Record<string, unknown>; policy?: "Retain" | "Delete"; uid?: string } = {}): StoredObject {
  return storedObject({
    kind: "PersistentVolumeClaim",
    name,
    ...(options.uid ? { uid: options.uid } : {}),
    annotations: options.policy ? { "capstan.dev/reclaim-policy": options.policy } : {},
    status: options.status ?? bound,
  });
}

function podUsing(claimName: string, node: string): StoredObject {
  return storedObject({ kind: "Pod", name: `user-of-${claimName}`, spec: { nodeName: node, volumes: [{ name: "d", persistentVolumeClaim: { claimName } }] } });
}

describe("planClaimReclaim", () => {
  const nodes = new Set(["n1", "n2"]);
  const cases: { name: string; deleted: StoredObject[]; live?: StoredObject[]; pods?: StoredObject[]; purge: string[]; remove: [string, string[]][]; waiting?: number }[] = [
    { name: "a Delete claim is removed on its node first (Delete is the default)", deleted: [claim("data")], purge: [], remove: [["data", ["n1"]]] },
    { name: "a Retain claim is forgotten, its directory kept", deleted: [claim("data", { policy: "Retain" })], purge: ["data"], remove: [] },
    { name: "a claim never bound (no finalizer) is left to the age purge", deleted: [claim("data", { status: { phase: "Pending" } })], purge: [], remove: [] },
    { name: "a claim still mounted by a pod on its node waits", deleted: [claim("data")], pods: [podUsing("data", "n1")], purge: [], remove: [], waiting: 1 },
    { name: "a pod on another node does not hold it", deleted: [claim("data")], pods: [podUsing("data", "n2")], purge: [], remove: [["data", ["n1"]]] },
    { name: "a claim made again under the same name keeps the directory", deleted: [claim("data")], live: [claim("data", { status: {} })], purge: ["data"], remove: [] },
    {
      name: "a relocatable claim is removed on every node that had it, and a node that is gone is skipped",
      deleted: [claim("cache", { status: { ...bound, nodes: ["n1", "n2", "gone"] } })],
      purge: [],
      remove: [["cache", ["n1", "n2"]]],
    },
    { name: "a claim whose only node is gone is forgotten", deleted: [claim("data", { status: { ...bound, nodes: ["gone"] } })], purge: ["data"], remove: [] },
  ];
  it.each(cases)("$name", ({ deleted, live, pods, purge, remove, waiting }) => {
    const plan = planClaimReclaim({ deleted, live: live ?? [], pods: pods ?? [], nodes });
    expect(plan.purge.map((object) => object.name)).toEqual(purge);
    expect(plan.remove.map((entry) => [entry.ref.name, entry.nodes])).toEqual(remove);
    expect(plan.waiting).toBe(waiting ?? 0);
  });
});

describe("NodeManager: deleted claims", () => {
  it("asks the claim's node to remove its directory once its pod is gone, then purges the claim", async () => {
    const store = new MemoryDesiredStore();
    await store.createObject({ apiVersion: "capstan.dev/v1", kind: "Node", namespace: "", name: "n1", spec: { transport: "ssh", address: "127.0.0.1", port: 22, user: "root" } });
    const created = await store.createObject({ apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: "shop", name: "data", spec: {} });
    await store.updateStatuses([{ key: { kind: "PersistentVolumeClaim", namespace: "shop", name: "data" }, status: bound }]);
    const podKey = { kind: "Pod", namespace: "shop", name: "kv-0" };
    await store.createObject({
      apiVersion: "v1",
      ...podKey,
      spec: { nodeName: "n1", containers: [{ name: "kv", command: ["kv"] }], volumes: [{ name: "d", persistentVolumeClaim: { claimName: "data" } }] },
    });
    const fake = new FakeNodeClient({ clock: systemClock, node: "n1" });
    const manager = new NodeManager({ store, clock: systemClock, log: silentLogger, transportFor: () => ({}) as AgentTransport, clientFor: () => fake });
    try {
      await manager.start();
      await store.deleteObject({ kind: "PersistentVolumeClaim", namespace: "shop", name: "data" });
      await manager.refresh();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Its pod still runs there: nothing is removed, the claim stays among the deleted.
      expect(fake.deletedClaims).toEqual([]);
      expect((await store.listObjects({ kind: "PersistentVolumeClaim", deleted: true })).map((object) => object.uid)).toEqual([created.uid]);

      await store.deleteObject(podKey);
      await manager.refresh();
      await eventually(async () => {
        expect(fake.deletedClaims).toEqual(["shop/data"]);
        expect(await store.listObjects({ kind: "PersistentVolumeClaim", deleted: true })).toEqual([]);
      });
    } finally {
      await manager.stop();
    }
  });
});

describe("terminatedPods", () => {
  const finalized = (name: string, node?: string) =>
    storedObject({ kind: "Pod", name, uid: `uid-${name}`, spec: node ? { nodeName: node } : {}, status: { finalizers: ["capstan.dev/pod-termination"] } });
  const view = (fields: Partial<NodeView>): NodeView => ({ connected: true, acknowledged: new Set(), inFlight: new Set(), reported: new Set(), ...fields });
  const cases: { name: string; pod: StoredObject; nodes: [string, NodeView][]; gone: boolean }[] = [
    { name: "never bound: nothing ever ran", pod: finalized("p"), nodes: [], gone: true },
    { name: "bound to a node that no longer exists", pod: finalized("p", "n9"), nodes: [["n1", view({})]], gone: true },
    { name: "acknowledged without it and no longer reported", pod: finalized("p", "n1"), nodes: [["n1", view({})]], gone: true },
    { name: "still reported (being stopped)", pod: finalized("p", "n1"), nodes: [["n1", view({ reported: new Set(["uid-p"]) })]], gone: false },
    { name: "the last acknowledged set still holds it", pod: finalized("p", "n1"), nodes: [["n1", view({ acknowledged: new Set(["uid-p"]) })]], gone: false },
    { name: "in a pod set sent but not yet acknowledged (the agent may be starting it)", pod: finalized("p", "n1"), nodes: [["n1", view({ inFlight: new Set(["uid-p"]) })]], gone: false },
    { name: "nothing acknowledged yet", pod: finalized("p", "n1"), nodes: [["n1", view({ acknowledged: undefined })]], gone: false },
    { name: "its node cannot be reached: it may still run", pod: finalized("p", "n1"), nodes: [["n1", view({ connected: false })]], gone: false },
    { name: "a pod without the finalizer is not this mechanism's", pod: storedObject({ kind: "Pod", name: "p" }), nodes: [], gone: false },
  ];
  it.each(cases)("$name", ({ pod, nodes, gone }) => {
    expect(terminatedPods([pod], new Map(nodes)).map((object) => object.name)).toEqual(gone ? [pod.name] : []);
  });
});

describe("NodeManager: deleted StatefulSet pods", () => {
  it("purges a deleted pod holding the pod-termination finalizer only once its agent has stopped it", async () => {
    const store = new MemoryDesiredStore();
    await store.createObject({ apiVersion: "capstan.dev/v1", kind: "Node", namespace: "", name: "n1", spec: { transport: "ssh", address: "127.0.0.1", port: 22, user: "root" } });
    const podKey = { kind: "Pod", namespace: "shop", name: "kv-0" };
    const created = await store.createObject({
      apiVersion: "v1",
      ...podKey,
      spec: { nodeName: "n1", containers: [{ name: "kv", command: ["kv"] }] },
      status: { phase: "Pending", finalizers: ["capstan.dev/pod-termination"] },
    });
    const fake = new FakeNodeClient({ clock: systemClock, node: "n1" });
    const manager = new NodeManager({ store, clock: systemClock, log: silentLogger, transportFor: () => ({}) as AgentTransport, clientFor: () => fake });
    try {
      await manager.start();
      await eventually(() => expect(fake.statuses().map((status) => status.uid)).toEqual([created.uid]));
      fake.disconnect();
      await store.deleteObject(podKey);
      await manager.refresh();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The node cannot be reached: the pod may still run there, so it stays terminating.
      expect((await store.listObjects({ kind: "Pod", deleted: true })).map((pod) => pod.uid)).toEqual([created.uid]);

      fake.reconnect();
      await manager.refresh();
      await eventually(async () => expect(await store.listObjects({ kind: "Pod", deleted: true })).toEqual([]), 10_000);
      expect(fake.statuses()).toEqual([]);
    } finally {
      await manager.stop();
    }
  });
});
