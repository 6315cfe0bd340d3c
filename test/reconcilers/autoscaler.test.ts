import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channels, listen } from "../../src/db/index.ts";
import { deploymentKind, horizontalPodAutoscalerKind, PgDesiredStore, type ObjectKey, type StoredObject } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import {
  autoscaledReplicas,
  autoscalerReconciler,
  deploymentReconciler,
  parseObjectChange,
  replicaSetReconciler,
  type ObjectChange,
  type PodMetricsSource,
} from "../../src/reconcilers/index.ts";
import type { PodCpuUsage } from "../../src/reconcilers/replica-calculator.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";
import { eventually } from "../helpers/eventually.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { reconcileContext } from "../helpers/reconcile-context.ts";

/**
 * The autoscaler and the Deployment controller on real PostgreSQL: the
 * autoscaler's status decides the ReplicaSet's size, Git's replicas is
 * ignored while it targets the Deployment and applies again once it does
 * not, and the real
 * NOTIFY of the autoscaler's status write routes to the Deployment.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
const clock = new ManualClock(new Date("2026-01-01T12:00:00Z"));
const usage = new Map<string, PodCpuUsage>();
const metrics: PodMetricsSource = { cpuUsage: () => usage };
const autoscalers = autoscalerReconciler({ metrics });
const deploymentKey: ObjectKey = { kind: "Deployment", namespace: "default", name: "web" };
const autoscalerKey: ObjectKey = { kind: "HorizontalPodAutoscaler", namespace: "default", name: "web" };

function context(): ReconcileContext {
  return reconcileContext(store, clock, "test", { eventsAt: "clock" });
}

function deploymentSpec(replicas: number) {
  const manifest = deploymentKind.schema.parse({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web" },
    spec: {
      replicas,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "web", command: ["web"], resources: { requests: { cpu: "100m" } } }] },
      },
    },
  });
  return deploymentKind.specOf(manifest);
}

async function replicaSets(): Promise<StoredObject[]> {
  return store.listObjects({ kind: "ReplicaSet", namespace: "default" });
}

/** One pass of the Deployment and ReplicaSet controllers, then every pod reported running and ready for an hour, burning `cpu` millicores. */
async function settle(cpu: number): Promise<StoredObject[]> {
  await deploymentReconciler.reconcile(context(), deploymentKey);
  for (const rs of await replicaSets()) await replicaSetReconciler.reconcile(context(), { kind: "ReplicaSet", namespace: "default", name: rs.name });
  const pods = await store.listObjects({ kind: "Pod", namespace: "default" });
  const longAgo = new Date(clock.now().getTime() - 3_600_000).toISOString();
  await store.updateStatuses(
    pods.map((pod) => ({
      key: { kind: "Pod", namespace: "default", name: pod.name },
      uid: pod.uid,
      status: { phase: "Running", ready: true, startTime: longAgo, conditions: [{ type: "Ready", status: "True", lastTransitionTime: longAgo }] },
    })),
  );
  usage.clear();
  for (const pod of pods) usage.set(pod.uid, { containers: [{ name: "web", cpuMillis: cpu }] });
  return pods;
}

beforeAll(async () => {
  store = new PgDesiredStore(database().pool);
});

describe("an autoscaled Deployment", () => {
  const changes: ObjectChange[] = [];
  let listener: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    listener = await listen(database().url, [channels.objects], (_channel, payload) => {
      const change = parseObjectChange(payload, silentLogger);
      if (change) changes.push(change);
    });
  });
  afterAll(async () => {
    await listener?.close();
  });

  it("runs Git's replicas until the autoscaler has decided", async () => {
    await store.createObject({ apiVersion: "apps/v1", kind: "Deployment", namespace: "default", name: "web", spec: deploymentSpec(2) });
    await settle(150);
    const manifest = horizontalPodAutoscalerKind.schema.parse({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "web" },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
        maxReplicas: 6,
        metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 50 } } }],
      },
    });
    await store.createObject({ apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", namespace: "default", name: "web", spec: horizontalPodAutoscalerKind.specOf(manifest) });
    expect(await autoscaledReplicas(store, deploymentKey)).toBeNull();
    expect((await replicaSets()).map((rs) => (rs.spec as { replicas: number }).replicas)).toEqual([2]);
  });

  it("scales the ReplicaSet to the autoscaler's decision, and its status write wakes the Deployment", async () => {
    // 150% of the request against a 50% target: three times as many pods.
    const result = await autoscalers.reconcile(context(), autoscalerKey);
    expect(result).toEqual({ requeueAfterMs: 15_000 });
    const hpa = (await store.getObject(autoscalerKey))!;
    expect(hpa.status).toMatchObject({
      currentReplicas: 2,
      desiredReplicas: 6,
      currentMetrics: [{ type: "Resource", resource: { name: "cpu", current: { averageUtilization: 150, averageValue: "150m" } } }],
      lastScaleTime: clock.now().toISOString(),
      health: "Healthy",
    });
    expect(await autoscaledReplicas(store, deploymentKey)).toBe(6);

    const statusWrite = await eventually(() => {
      const change = changes.find((candidate) => candidate.kind === "HorizontalPodAutoscaler" && candidate.statusOnly);
      expect(change).toBeDefined();
      return change!;
    });
    expect(await deploymentReconciler.keysFor!(statusWrite, context())).toEqual([deploymentKey]);
    // Its own status write does not wake the autoscaler itself.
    expect(await autoscalers.keysFor!(statusWrite, context())).toEqual([]);

    const pods = await settle(50);
    expect((await replicaSets()).map((rs) => (rs.spec as { replicas: number }).replicas)).toEqual([6]);
    expect(pods).toHaveLength(6);
    const events = await store.listEvents();
    expect(events.map((event) => event.message)).toEqual(
      expect.arrayContaining(["New size: 6; reason: cpu resource utilization (percentage of request) above target", expect.stringMatching(/Scaled up replica set web-\w+ from 2 to 6/)]),
    );
  });

  it("routes a pod's status change to the autoscaler of its Deployment", async () => {
    const podChange = await eventually(() => {
      const change = changes.find((candidate) => candidate.kind === "Pod" && candidate.statusOnly);
      expect(change).toBeDefined();
      return change!;
    });
    expect(await autoscalers.keysFor!(podChange, context())).toEqual([autoscalerKey]);
  });

  it("ignores a change of Git's replicas while the autoscaler exists", async () => {
    const deployment = (await store.getObject(deploymentKey))!;
    await store.updateObject(deploymentKey, deployment.resourceVersion, { spec: deploymentSpec(3) });
    await clock.advance(15_000);
    await autoscalers.reconcile(context(), autoscalerKey);
    await settle(50);
    expect((await replicaSets()).map((rs) => (rs.spec as { replicas: number }).replicas)).toEqual([6]);
    expect((await store.getObject(deploymentKey))!.status).toMatchObject({ replicas: 6 });
  });

  it("runs Git's replicas again once the autoscaler targets another workload, and wakes the one it released", async () => {
    await store.createObject({ apiVersion: "apps/v1", kind: "Deployment", namespace: "default", name: "api", spec: { ...deploymentSpec(1), selector: { matchLabels: { app: "api" } } } });
    changes.length = 0;
    const hpa = (await store.getObject(autoscalerKey))!;
    const spec = hpa.spec as { scaleTargetRef: Record<string, string> };
    await store.updateObject(autoscalerKey, hpa.resourceVersion, { spec: { ...spec, scaleTargetRef: { ...spec.scaleTargetRef, name: "api" } } });
    const retarget = await eventually(() => {
      const change = changes.find((candidate) => candidate.kind === "HorizontalPodAutoscaler" && !candidate.statusOnly);
      expect(change).toBeDefined();
      return change!;
    });
    const woken = await deploymentReconciler.keysFor!(retarget, context());
    expect(woken.map((key) => key.name).sort()).toEqual(["api", "web"]);
    expect(await autoscaledReplicas(store, deploymentKey)).toBeNull();
    await settle(50);
    expect((await replicaSets()).filter((rs) => rs.name.startsWith("web-")).map((rs) => (rs.spec as { replicas: number }).replicas)).toEqual([3]);
  });

  it("wakes every Deployment of the namespace when the autoscaler is deleted", async () => {
    changes.length = 0;
    await store.deleteObject(autoscalerKey);
    const deletion = await eventually(() => {
      const change = changes.find((candidate) => candidate.kind === "HorizontalPodAutoscaler" && candidate.deleted);
      expect(change).toBeDefined();
      return change!;
    });
    expect((await deploymentReconciler.keysFor!(deletion, context())).map((key) => key.name).sort()).toEqual(["api", "web"]);
    expect(await autoscaledReplicas(store, { kind: "Deployment", namespace: "default", name: "api" })).toBeNull();
  });
});
