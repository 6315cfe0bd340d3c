import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { agentId, alive, killAgent, processesOfAgent } from "../helpers/agent.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { sample } from "../helpers/sample.ts";
import { webDeployment } from "../helpers/web-deployment.ts";

/**
 * A pushed commit becomes running pods across three real nodes (sshd on
 * 127.0.0.2-4, the real capstan-agent, real processes), and the cluster
 * follows every later commit and every fault, end to end on real PostgreSQL.
 */

const cluster = useCluster({ nodes: 3, name: "deploy", env: { CAPSTAN_EVICTION_GRACE: "2" } });

const deployment = (replicas: number, version: string): string => webDeployment({ version, replicas });

async function pods(): Promise<StoredObject[]> {
  return cluster.store.listObjects({ kind: "Pod", namespace: "default" });
}

function isReady(pod: StoredObject): boolean {
  return (pod.status as { ready?: boolean }).ready === true;
}

const webProcesses = () => cluster.podProcesses();

describe("a Deployment on three SSH nodes", () => {
  it("runs 6 replicas spread 2/2/2, all ready and serving", async () => {
    await cluster.commit({ "web.yaml": deployment(6, "v1") }, "web v1");
    await eventually(async () => expect((await pods()).filter(isReady)).toHaveLength(6), 60_000);
    const perNode = new Map<string, number>();
    for (const pod of await pods()) {
      const node = (pod.spec as { nodeName: string }).nodeName;
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
    expect([...perNode.values()]).toEqual([2, 2, 2]);
    expect(await webProcesses()).toHaveLength(6);
    const status = (await cluster.store.getObject({ kind: "Deployment", namespace: "default", name: "web" }))!.status;
    expect(status).toMatchObject({ replicas: 6, readyReplicas: 6, availableReplicas: 6, updatedReplicas: 6, health: "Healthy" });
  }, 90_000);

  it("rolls a new version out without dropping below replicas - maxUnavailable ready", async () => {
    const sampler = sample(async () => (await pods()).filter(isReady).length);
    await cluster.commit({ "web.yaml": deployment(6, "v2") }, "web v2");
    await eventually(async () => {
      const current = await pods();
      expect(current).toHaveLength(6);
      expect(current.every((pod) => isReady(pod) && JSON.stringify(pod.spec).includes('"v2"'))).toBe(true);
    }, 90_000);
    const readyCounts = await sampler.stop();
    // 25% of 6 rounded down: at most one pod unavailable at any time.
    expect(Math.min(...readyCounts)).toBeGreaterThanOrEqual(5);
    await eventually(async () => expect(await webProcesses()).toHaveLength(6), 20_000);
  }, 120_000);

  it("scales to 9", async () => {
    await cluster.commit({ "web.yaml": deployment(9, "v2") }, "scale web to 9");
    await eventually(async () => expect((await pods()).filter(isReady)).toHaveLength(9), 60_000);
    await eventually(async () => expect(await webProcesses()).toHaveLength(9), 20_000);
  }, 90_000);

  it("restarts a pod process killed with SIGKILL", async () => {
    const [victim] = (await pods()).filter(isReady);
    const node = (victim!.spec as { nodeName: string }).nodeName;
    const client = cluster.controlPlane.nodes.client(node)!;
    const before = client.statuses().find((status) => status.uid === victim!.uid)!.containerStatuses[0]!;
    process.kill(before.pid!, "SIGKILL");
    await eventually(() => {
      const after = client.statuses().find((status) => status.uid === victim!.uid)!;
      expect(after.containerStatuses[0]!.restartCount).toBe(before.restartCount + 1);
      expect(after.ready).toBe(true);
    }, 20_000);
  }, 60_000);

  it("moves the pods of a node that goes away, and fences them when it comes back", async () => {
    const lost = cluster.servers[0]!;
    const lostAgent = cluster.agents[0]!;
    const stranded = (await pods()).filter((pod) => (pod.spec as { nodeName: string }).nodeName === "node-0");
    expect(stranded.length).toBeGreaterThan(0);
    const strandedPids = (await processesOfAgent((await agentId(lostAgent.stateDir))!)).slice();

    // The host drops off the network: no sshd, no agent to answer (its pods keep running, as on a partitioned host).
    await lost.down();
    await killAgent(lostAgent.stateDir);
    await eventually(async () => {
      const current = await pods();
      expect(current.filter((pod) => (pod.spec as { nodeName: string }).nodeName === "node-0")).toEqual([]);
      expect(current.filter(isReady)).toHaveLength(9);
    }, 60_000);
    expect(strandedPids.every(alive)).toBe(true);

    // It comes back: the agent is told its pods are no longer its own and stops them before anything else.
    await lost.up();
    await eventually(() => expect(strandedPids.some(alive)).toBe(false), 60_000);
    await eventually(async () => expect(await webProcesses()).toHaveLength(9), 20_000);
  }, 150_000);

  it("removes every pod when the manifest is deleted", async () => {
    await cluster.commit({ "web.yaml": null }, "remove web");
    await eventually(async () => expect(await pods()).toEqual([]), 30_000);
    await eventually(async () => expect(await webProcesses()).toEqual([]), 30_000);
    expect(await cluster.store.listObjects({ kind: "ReplicaSet" })).toEqual([]);
  }, 60_000);
});

