import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { statusSchema } from "../../src/status/index.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * A HorizontalPodAutoscaler end to end on one real SSH node: pods that burn
 * CPU far beyond their small request are scaled out to maxReplicas from the
 * agent's /proc samples, and once the burn stops they are scaled back in
 * after the manifest's short scale-down window. Git's `replicas: 1` is
 * ignored throughout.
 */

const cluster = useCluster({ nodes: 1, firstAddress: "127.0.0.6", name: "hpa", beforeStart: () => writeFile(burnFile(), "") });
const burnFile = () => join(cluster.dataDir, "burn");

// About 150 millicores while the file exists (15 ms busy in every 100 ms), next to nothing after: kind to two shared cores.
const burner =
  "const fs = require('fs'); setInterval(() => { if (!fs.existsSync(process.env.BURN_FILE)) return; const end = Date.now() + 15; while (Date.now() < end); }, 100);";

function manifests(): Record<string, string> {
  return {
    "web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          command: ${JSON.stringify([process.execPath, "-e", burner])}
          env: [{ name: BURN_FILE, value: "${burnFile()}" }]
          resources: { requests: { cpu: 50m } }
`,
    "web-hpa.yaml": `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 50 } }
  behavior:
    scaleDown: { stabilizationWindowSeconds: 5 }
`,
  };
}

async function activePods(): Promise<StoredObject[]> {
  return (await cluster.store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.deletedAt === null);
}

const podProcesses = () => cluster.podProcesses();

async function autoscalerStatus(): Promise<{ desiredReplicas?: number; currentMetrics?: { resource: { current: { averageUtilization?: number } } }[] }> {
  return ((await cluster.store.getObject({ kind: "HorizontalPodAutoscaler", namespace: "default", name: "web" }))?.status ?? {}) as never;
}

describe("a CPU-bound Deployment with a HorizontalPodAutoscaler", () => {
  it("is scaled out to maxReplicas while it burns CPU, Git's replicas: 1 ignored", async () => {
    await cluster.commit(manifests(), "web with an autoscaler");
    await eventually(async () => {
      const status = await autoscalerStatus();
      expect(status.desiredReplicas).toBe(3);
      expect(status.currentMetrics?.[0]?.resource.current.averageUtilization).toBeGreaterThan(100);
    }, 90_000);
    await eventually(async () => {
      const pods = await activePods();
      expect(pods).toHaveLength(3);
      expect(pods.every((pod) => (pod.status as { ready?: boolean }).ready === true)).toBe(true);
    }, 30_000);
    await eventually(async () => expect(await podProcesses()).toHaveLength(3), 20_000);

    const response = await fetch(`${cluster.controlPlane.url}/api/status`);
    const web = statusSchema.parse(await response.json()).workloads.find((workload) => workload.name === "web");
    expect(web).toMatchObject({ desired: 3, autoscaledBy: "web", gitReplicas: 1 });
  }, 150_000);

  it("is scaled back in to minReplicas once the burn stops, after its 5 s scale-down window", async () => {
    await rm(burnFile());
    await eventually(async () => expect((await autoscalerStatus()).desiredReplicas).toBe(1), 90_000);
    await eventually(async () => expect(await activePods()).toHaveLength(1), 30_000);
    await eventually(async () => expect(await podProcesses()).toHaveLength(1), 20_000);
    const events = await cluster.store.listEvents();
    expect(events.filter((event) => event.reason === "SuccessfulRescale").map((event) => event.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^New size: 3; reason: cpu resource utilization/), "New size: 1; reason: All metrics below target"]),
    );
  }, 150_000);
});
