import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { sample } from "../helpers/sample.ts";

/**
 * A DaemonSet pushed to Git runs one pod on every node (sshd on 127.0.0.2-4,
 * the real capstan-agent, real processes), and follows the nodes Git
 * declares: a fourth node committed gets its pod, and loses it when its
 * manifest is removed again. End to end on real PostgreSQL.
 */

// Four hosts; the fourth is declared in Git only later.
const cluster = useCluster({ nodes: 4, declared: 3, name: "ds", env: { CAPSTAN_EVICTION_GRACE: "2" } });

// A daemon that only stays up: its presence on a node is what is tested.
const daemon = "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0))";

const daemonSet = (version: string) => `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: shipper
spec:
  selector:
    matchLabels: { app: shipper }
  template:
    metadata:
      labels: { app: shipper }
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: shipper
          command: ["${process.execPath}", "-e", "${daemon}"]
          env: [{ name: VERSION, value: "${version}" }]
`;

async function daemonPods(): Promise<StoredObject[]> {
  return (await cluster.store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.labels["app"] === "shipper");
}

const nodeOf = (pod: StoredObject) => (pod.spec as { nodeName?: string }).nodeName;
const isReady = (pod: StoredObject) => (pod.status as { ready?: boolean }).ready === true;

describe("a DaemonSet on real SSH nodes", () => {
  it("runs one ready pod, one process, on each of the three nodes", async () => {
    await cluster.commit({ "shipper.yaml": daemonSet("v1") }, "log shipper on every node");
    await eventually(async () => {
      const pods = await daemonPods();
      expect(pods.map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2"]);
      expect(pods.every(isReady)).toBe(true);
    }, 60_000);
    for (const index of [0, 1, 2]) await eventually(async () => expect(await cluster.processesOn(index)).toHaveLength(1), 20_000);
    await eventually(async () => {
      const status = (await cluster.store.getObject({ kind: "DaemonSet", namespace: "default", name: "shipper" }))!.status;
      expect(status).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, numberAvailable: 3, updatedNumberScheduled: 3, health: "Healthy" });
    }, 20_000);
  }, 90_000);

  it("rolls a new template out one node at a time (maxUnavailable 1)", async () => {
    const sampler = sample(async () => (await daemonPods()).filter(isReady).length);
    await cluster.commit({ "shipper.yaml": daemonSet("v2") }, "log shipper v2");
    await eventually(async () => {
      const pods = await daemonPods();
      expect(pods.map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2"]);
      expect(pods.every((pod) => isReady(pod) && JSON.stringify(pod.spec).includes('"v2"'))).toBe(true);
    }, 60_000);
    const readyCounts = await sampler.stop();
    expect(Math.min(...readyCounts)).toBeGreaterThanOrEqual(2);
    for (const index of [0, 1, 2]) await eventually(async () => expect(await cluster.processesOn(index)).toHaveLength(1), 20_000);
  }, 90_000);

  it("gives a node added to Git its own pod, running there", async () => {
    await cluster.commit({ [cluster.nodeFile(3)]: cluster.nodeManifest(3) }, "a fourth node");
    await eventually(async () => {
      const pods = await daemonPods();
      expect(pods.map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2", "node-3"]);
      expect(pods.every(isReady)).toBe(true);
    }, 60_000);
    await eventually(async () => expect(await cluster.processesOn(3)).toHaveLength(1), 20_000);
    // The others were left as they were: still one each.
    for (const index of [0, 1, 2]) expect(await cluster.processesOn(index)).toHaveLength(1);
    await eventually(async () => {
      const status = (await cluster.store.getObject({ kind: "DaemonSet", namespace: "default", name: "shipper" }))!.status;
      expect(status).toMatchObject({ desiredNumberScheduled: 4, numberAvailable: 4 });
    }, 20_000);
  }, 90_000);

  it("takes the pod away with the node when its manifest is removed, and stops its process", async () => {
    const [onFourth] = await cluster.processesOn(3);
    await cluster.commit({ [cluster.nodeFile(3)]: null }, "retire the fourth node");
    await eventually(async () => expect((await daemonPods()).map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2"]), 30_000);
    await eventually(async () => expect(await cluster.processesOn(3)).toEqual([]), 30_000);
    expect(onFourth).toBeDefined();
    for (const index of [0, 1, 2]) expect(await cluster.processesOn(index)).toHaveLength(1);
    await eventually(async () => {
      const status = (await cluster.store.getObject({ kind: "DaemonSet", namespace: "default", name: "shipper" }))!.status;
      expect(status).toMatchObject({ desiredNumberScheduled: 3, numberAvailable: 3, numberMisscheduled: 0 });
    }, 20_000);
  }, 90_000);

  it("removes every pod and process when the DaemonSet is deleted from Git", async () => {
    await cluster.commit({ "shipper.yaml": null }, "no more log shipper");
    await eventually(async () => expect(await daemonPods()).toEqual([]), 30_000);
    for (const index of [0, 1, 2]) await eventually(async () => expect(await cluster.processesOn(index)).toEqual([]), 30_000);
  }, 60_000);
});
