import { describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, statusSchema } from "../../src/status/index.ts";

/** GET /api/status marks an autoscaled workload: its desired count is the autoscaler's, and Git's is shown as ignored. */

async function statusOf(store: MemoryDesiredStore) {
  const app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true });
  const response = await app.request("/api/status");
  expect(response.status).toBe(200);
  return statusSchema.parse(await response.json());
}

async function addDeployment(store: MemoryDesiredStore, name: string, replicas: number) {
  await store.createObject({ apiVersion: "apps/v1", kind: "Deployment", namespace: "default", name, spec: { replicas, selector: { matchLabels: { app: name } } } });
}

describe("the workloads of /api/status", () => {
  it("gives an autoscaled Deployment the autoscaler's count and names the autoscaler, and leaves the others alone", async () => {
    const store = new MemoryDesiredStore();
    await addDeployment(store, "web", 2);
    await addDeployment(store, "api", 3);
    await store.createObject({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      namespace: "default",
      name: "web-cpu",
      spec: { scaleTargetRef: { kind: "Deployment", name: "web" }, minReplicas: 1, maxReplicas: 8 },
    });
    const key = { kind: "HorizontalPodAutoscaler", namespace: "default", name: "web-cpu" };

    // Before its first decision the target still runs Git's count.
    let workloads = (await statusOf(store)).workloads;
    expect(workloads.find((workload) => workload.name === "web")).toMatchObject({ desired: 2, autoscaledBy: "web-cpu", gitReplicas: 2 });

    await store.updateStatuses([{ key, status: { scaleTarget: "Deployment/web", currentReplicas: 2, desiredReplicas: 7 } }]);
    workloads = (await statusOf(store)).workloads;
    expect(workloads.find((workload) => workload.name === "web")).toMatchObject({ desired: 7, autoscaledBy: "web-cpu", gitReplicas: 2 });
    const api = workloads.find((workload) => workload.name === "api")!;
    expect(api.desired).toBe(3);
    expect(api).not.toHaveProperty("autoscaledBy");
  });
});

describe("a StatefulSet's line in /api/status", () => {
  async function addStatefulSet(store: MemoryDesiredStore, name: string, spec: Record<string, unknown>, status: Record<string, unknown>) {
    await store.createObject({ apiVersion: "apps/v1", kind: "StatefulSet", namespace: "default", name, spec: { replicas: 3, ...spec } });
    await store.updateStatuses([{ key: { kind: "StatefulSet", namespace: "default", name }, status, observedGeneration: 1 }]);
  }

  it("says whether its rollout is complete, held at its partition, waiting for deletions or under way", async () => {
    const store = new MemoryDesiredStore();
    const counts = { readyReplicas: 3, availableReplicas: 3 };
    await addStatefulSet(store, "done", {}, { ...counts, updatedReplicas: 3, currentRevision: "r2", updateRevision: "r2", health: "Healthy" });
    await addStatefulSet(store, "staged", { updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } }, { ...counts, updatedReplicas: 1, currentRevision: "r1", updateRevision: "r2", health: "Healthy" });
    await addStatefulSet(store, "ondelete", { updateStrategy: { type: "OnDelete" } }, { ...counts, updatedReplicas: 1, currentRevision: "r1", updateRevision: "r2", health: "Healthy" });
    await addStatefulSet(store, "rolling", {}, { readyReplicas: 2, availableReplicas: 2, updatedReplicas: 1, currentRevision: "r1", updateRevision: "r2", health: "Progressing" });
    await store.createObject({ apiVersion: "apps/v1", kind: "StatefulSet", namespace: "default", name: "new", spec: { replicas: 1 } });
    const lines = Object.fromEntries((await statusOf(store)).workloads.filter((w) => w.kind === "StatefulSet").map((w) => [w.name, [w.rollout, w.desired, w.ready, w.updated]]));
    expect(lines).toEqual({
      done: ["complete", 3, 3, 3],
      staged: ["partitioned at 2", 3, 3, 1],
      ondelete: ["waiting: OnDelete", 3, 3, 1],
      rolling: ["progressing", 3, 2, 1],
      new: ["pending", 1, 0, 0],
    });
  });

  it("gives an autoscaled StatefulSet the autoscaler's count, as its controller runs it, and names the autoscaler", async () => {
    const store = new MemoryDesiredStore();
    await addStatefulSet(store, "kv", {}, { readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3, currentRevision: "r1", updateRevision: "r1", health: "Healthy" });
    await store.createObject({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      namespace: "default",
      name: "kv-cpu",
      spec: { scaleTargetRef: { kind: "StatefulSet", name: "kv" }, minReplicas: 1, maxReplicas: 8 },
    });
    await store.updateStatuses([{ key: { kind: "HorizontalPodAutoscaler", namespace: "default", name: "kv-cpu" }, status: { scaleTarget: "StatefulSet/kv", desiredReplicas: 5 } }]);
    const kv = (await statusOf(store)).workloads.find((workload) => workload.name === "kv");
    // Three of the decided five are ready: not complete yet.
    expect(kv).toMatchObject({ desired: 5, autoscaledBy: "kv-cpu", gitReplicas: 3, rollout: "progressing" });
  });
});
