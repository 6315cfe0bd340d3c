import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { killAgent } from "../helpers/agent.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * A StatefulSet on three real nodes (sshd on 127.0.0.2-4, the real
 * capstan-agent): pods come up one by one in ordinal order, each keeps its
 * claim's directory on its node through process kills, agent kills and pod
 * loss, a partitioned rolling update touches only the ordinals at or above
 * the partition, and a claim scaled away with whenScaled Delete has its
 * directory removed on its node.
 */

const cluster = useCluster({ nodes: 3, name: "sts", env: { CAPSTAN_EVICTION_GRACE: "2" } });

// Appends "<pod> <version>" to its claim at every start and serves the whole history: what the pod remembers.
const app = [
  "const fs = require('fs'); const file = '/var/lib/kv/history';",
  "fs.appendFileSync(file, process.env.POD_NAME + ' ' + process.env.VERSION + String.fromCharCode(10));",
  "require('http').createServer((q, s) => s.end(fs.readFileSync(file, 'utf8'))).listen(process.env.PORT, '127.0.0.1');",
].join(" ");

function statefulSet(options: { replicas: number; version: string; partition?: number; whenScaled?: "Retain" | "Delete" }): string {
  return `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: kv
spec:
  replicas: ${options.replicas}
  serviceName: kv
  selector:
    matchLabels: { app: kv }
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: { partition: ${options.partition ?? 0} }
  persistentVolumeClaimRetentionPolicy: { whenScaled: ${options.whenScaled ?? "Retain"} }
  template:
    metadata:
      labels: { app: kv }
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: kv
          command: ["${process.execPath}", "-e", "${app}"]
          env:
            - { name: VERSION, value: "${options.version}" }
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /, port: http }, periodSeconds: 1 }
          volumeMounts: [{ name: data, mountPath: /var/lib/kv }]
  volumeClaimTemplates:
    - metadata: { name: data }
      spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
`;
}

const headlessService = `apiVersion: v1
kind: Service
metadata:
  name: kv
spec:
  clusterIP: None
  selector: { app: kv }
  ports: [{ name: http, port: 7000, targetPort: http }]
`;

const pods = () => cluster.store.listObjects({ kind: "Pod", namespace: "default" });
const pod = async (name: string) => (await cluster.store.getObject({ kind: "Pod", namespace: "default", name }))!;
const isReady = (object: StoredObject) => (object.status as { ready?: boolean }).ready === true;
const nodeIndex = (object: StoredObject) => Number((object.spec as { nodeName: string }).nodeName.replace("node-", ""));
const claimDir = (node: number, claim: string) => join(cluster.agents[node]!.stateDir, "claims", "default", claim);
async function history(name: string): Promise<string[]> {
  const text = await readFile(join(claimDir(nodeIndex(await pod(name)), `data-${name}`), "history"), "utf8");
  return text.trim().split("\n");
}
function readySince(object: StoredObject): number {
  const ready = (object.status as { conditions?: { type: string; status: string; lastTransitionTime: string }[] }).conditions?.find((c) => c.type === "Ready");
  return Date.parse(ready!.lastTransitionTime);
}
async function allReady(count: number): Promise<void> {
  await eventually(async () => {
    const current = await pods();
    expect(current.map((object) => object.name)).toEqual(["kv-0", "kv-1", "kv-2"].slice(0, count));
    expect(current.every(isReady)).toBe(true);
  }, 60_000);
}

describe("a StatefulSet on three SSH nodes", () => {
  it("starts kv-0, kv-1, kv-2 in order, each only once the previous one is ready, each with its own claim", async () => {
    await cluster.commit({ "kv.yaml": statefulSet({ replicas: 3, version: "v1" }), "kv-service.yaml": headlessService }, "kv v1");
    await allReady(3);
    const [kv0, kv1, kv2] = await pods();
    expect(kv1!.createdAt.getTime()).toBeGreaterThanOrEqual(readySince(kv0!));
    expect(kv2!.createdAt.getTime()).toBeGreaterThanOrEqual(readySince(kv1!));
    for (const name of ["kv-0", "kv-1", "kv-2"]) {
      expect(await history(name)).toEqual([`${name} v1`]);
      const claim = (await cluster.store.getObject({ kind: "PersistentVolumeClaim", namespace: "default", name: `data-${name}` }))!;
      expect(claim.status).toMatchObject({ phase: "Bound", nodeName: `node-${nodeIndex(await pod(name))}` });
    }
    expect((await pod("kv-1")).spec).toMatchObject({ hostname: "kv-1", subdomain: "kv" });
    // The governing headless Service publishes each pod under its stable name.
    await eventually(async () => {
      const slice = await cluster.store.getObject({ kind: "EndpointSlice", namespace: "default", name: "kv" });
      const endpoints = (slice?.spec as { endpoints?: { pod: string; hostname?: string }[] } | undefined)?.endpoints ?? [];
      expect(endpoints.map((endpoint) => [endpoint.pod, endpoint.hostname])).toEqual([
        ["kv-0", "kv-0.kv"],
        ["kv-1", "kv-1.kv"],
        ["kv-2", "kv-2.kv"],
      ]);
    }, 20_000);
    await eventually(async () => {
      const status = (await cluster.store.getObject({ kind: "StatefulSet", namespace: "default", name: "kv" }))!.status;
      expect(status).toMatchObject({ replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentReplicas: 3, health: "Healthy" });
    }, 10_000);
  }, 90_000);

  it("keeps each pod's data when its process is killed, when its agent is killed with its pods, and when the pod is lost", async () => {
    // The process: the agent restarts it in place.
    const kv0 = await pod("kv-0");
    const client = cluster.controlPlane.nodes.client((kv0.spec as { nodeName: string }).nodeName)!;
    const before = client.statuses().find((status) => status.uid === kv0.uid)!.containerStatuses[0]!;
    process.kill(before.pid!, "SIGKILL");
    await eventually(async () => expect(await history("kv-0")).toEqual(["kv-0 v1", "kv-0 v1"]), 20_000);

    // The agent and every process of it: the node link starts the agent again, which starts the pod again.
    const kv1 = await pod("kv-1");
    await killAgent(cluster.agents[nodeIndex(kv1)]!.stateDir, { podsToo: true });
    // (Started again at least once; the agent may start it twice as it comes back: a start appends a line each time.)
    await eventually(async () => expect((await history("kv-1")).length).toBeGreaterThanOrEqual(2), 40_000);
    expect(new Set(await history("kv-1"))).toEqual(new Set(["kv-1 v1"]));

    // The pod itself (deleted, as an eviction would): it comes back under its name, on the node that holds its claim.
    const kv2 = await pod("kv-2");
    await cluster.store.deleteObject({ kind: "Pod", namespace: "default", name: "kv-2" }, { uid: kv2.uid });
    await eventually(async () => {
      const again = await pod("kv-2");
      expect(again.uid).not.toBe(kv2.uid);
      expect(nodeIndex(again)).toBe(nodeIndex(kv2));
      expect(isReady(again)).toBe(true);
    }, 40_000);
    expect(await history("kv-2")).toEqual(["kv-2 v1", "kv-2 v1"]);
    await allReady(3);
  }, 150_000);

  it("does not replace a pod whose node went away until the node is back, then brings it back there with its data", async () => {
    const kv0 = await pod("kv-0");
    const index = nodeIndex(kv0);
    const before = await history("kv-0");
    // The host drops off the network; its processes keep running, as on a partitioned host.
    await cluster.servers[index]!.down();
    await killAgent(cluster.agents[index]!.stateDir);
    // Evicted (deleted) after the grace period, but kept as terminating: it may still be running over there.
    await eventually(async () => expect((await cluster.store.listObjects({ kind: "Pod", deleted: true })).map((object) => object.uid)).toContain(kv0.uid), 40_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await pods()).map((object) => object.name)).not.toContain("kv-0");

    // Back: its agent is told the pod is gone and stops it; only then is kv-0 made again, on the node holding its claim.
    await cluster.servers[index]!.up();
    await eventually(async () => {
      const again = await cluster.store.getObject({ kind: "Pod", namespace: "default", name: "kv-0" });
      expect(again?.uid).toBeDefined();
      expect(again!.uid).not.toBe(kv0.uid);
      expect(nodeIndex(again!)).toBe(index);
      expect(isReady(again!)).toBe(true);
    }, 60_000);
    expect(await history("kv-0")).toEqual([...before, "kv-0 v1"]);
    await allReady(3);
  }, 150_000);

  it("with partition 2 updates only kv-2, which keeps its data", async () => {
    const [kv0, kv1, kv2] = await pods();
    const kv1History = await history("kv-1");
    await cluster.commit({ "kv.yaml": statefulSet({ replicas: 3, version: "v2", partition: 2 }) }, "kv v2, staged at ordinal 2");
    await eventually(async () => {
      const again = await pod("kv-2");
      expect(again.uid).not.toBe(kv2!.uid);
      expect(isReady(again)).toBe(true);
    }, 60_000);
    expect(await history("kv-2")).toEqual(["kv-2 v1", "kv-2 v1", "kv-2 v2"]);
    // Give the controller every chance to go further than it should.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await pod("kv-0")).uid).toBe(kv0!.uid);
    expect((await pod("kv-1")).uid).toBe(kv1!.uid);
    expect(await history("kv-1")).toEqual(kv1History);
    const status = (await cluster.store.getObject({ kind: "StatefulSet", namespace: "default", name: "kv" }))!.status as Record<string, unknown>;
    expect(status).toMatchObject({ updatedReplicas: 1, currentReplicas: 2, health: "Healthy" });
    expect(status["currentRevision"]).not.toBe(status["updateRevision"]);
  }, 90_000);

  it("scaled down with whenScaled Delete, removes kv-2 and then its claim's directory on its node, and keeps the others", async () => {
    const node = nodeIndex(await pod("kv-2"));
    expect((await stat(claimDir(node, "data-kv-2"))).isDirectory()).toBe(true);
    const kv0History = await history("kv-0");
    await cluster.commit({ "kv.yaml": statefulSet({ replicas: 2, version: "v2", partition: 2, whenScaled: "Delete" }) }, "kv down to 2");
    await eventually(async () => expect((await pods()).map((object) => object.name)).toEqual(["kv-0", "kv-1"]), 30_000);
    await eventually(async () => {
      await expect(stat(claimDir(node, "data-kv-2"))).rejects.toMatchObject({ code: "ENOENT" });
      expect(await cluster.store.listObjects({ kind: "PersistentVolumeClaim", deleted: true })).toEqual([]);
    }, 30_000);
    expect((await cluster.store.listObjects({ kind: "PersistentVolumeClaim" })).map((claim) => claim.name)).toEqual(["data-kv-0", "data-kv-1"]);
    expect(await history("kv-0")).toEqual(kv0History);
  }, 90_000);
});
