import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadUpConfig } from "../../src/config.ts";
import { startControlPlane, type ControlPlane } from "../../src/controlplane.ts";
import { PgDesiredStore, type StoredObject } from "../../src/desired/index.ts";
import { createPool } from "../../src/db/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { agentCommand, agentId, agentStateDir, processesOfAgent } from "../helpers/agent.ts";
import { eventually } from "../helpers/eventually.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { requireSshd, startSshd, type SshdServer, sshNodeManifest } from "../helpers/sshd.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * A DaemonSet pushed to Git runs one pod on every node (sshd on 127.0.0.2-4,
 * the real capstan-agent, real processes), and follows the nodes Git
 * declares: a fourth node committed gets its pod, and loses it when its
 * manifest is removed again. End to end on real PostgreSQL.
 */

const database = useTestDatabase();
const servers: SshdServer[] = [];
const agents: { stateDir: string; cleanup(): Promise<void> }[] = [];
let repo: TestRepo;
let dataDir: { path: string; cleanup(): Promise<void> };
let controlPlane: ControlPlane;
let store: PgDesiredStore;
let pool: ReturnType<typeof createPool>;

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

function nodeFile(index: number): string {
  return `nodes/node-${index}.yaml`;
}

function nodeManifest(index: number): string {
  return sshNodeManifest(`node-${index}`, servers[index]!, { stateDir: agents[index]!.stateDir, agentCommand });
}

async function commit(files: Record<string, string | null>, message: string): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    if (content === null) await repo.remove(path);
    else await repo.write(path, content);
  }
  await repo.commit(message);
  controlPlane.sync.trigger();
}

async function daemonPods(): Promise<StoredObject[]> {
  return (await store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.labels["app"] === "shipper");
}

const nodeOf = (pod: StoredObject) => (pod.spec as { nodeName?: string }).nodeName;
const isReady = (pod: StoredObject) => (pod.status as { ready?: boolean }).ready === true;

/** Pids of the processes the agent of node `index` runs. */
async function processesOn(index: number): Promise<number[]> {
  const id = await agentId(agents[index]!.stateDir);
  return id ? processesOfAgent(id) : [];
}

beforeAll(async () => {
  requireSshd();
  // Four hosts; the fourth is declared in Git only later.
  servers.push(...(await Promise.all(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"].map((address) => startSshd({ address })))));
  for (let index = 0; index < 4; index += 1) agents.push(await agentStateDir());
  repo = await createRepo();
  dataDir = await tempDir("capstan-e2e-ds-");
  await repo.writeAll({ [nodeFile(0)]: nodeManifest(0), [nodeFile(1)]: nodeManifest(1), [nodeFile(2)]: nodeManifest(2) });
  await repo.commit("three nodes");
  const config = loadUpConfig(
    { repo: repo.dir, dataDir: dataDir.path, port: "0", pollIntervalSeconds: "3600" },
    { DATABASE_URL: database().url, CAPSTAN_EVICTION_GRACE: "2", CAPSTAN_RESYNC_INTERVAL: "5" },
  );
  controlPlane = await startControlPlane(config, silentLogger);
  pool = createPool(database().url);
  store = new PgDesiredStore(pool);
  await eventually(async () => {
    const nodes = await store.listObjects({ kind: "Node" });
    expect(nodes.map((node) => (node.status as { conditions?: { status: string }[] }).conditions?.[0]?.status)).toEqual(["True", "True", "True"]);
  }, 30_000);
}, 120_000);

afterAll(async () => {
  await controlPlane?.stop();
  await pool?.end();
  for (const agent of agents) await agent.cleanup();
  await Promise.all(servers.map((sshd) => sshd.stop()));
  await repo?.cleanup();
  await dataDir?.cleanup();
}, 60_000);

describe("a DaemonSet on real SSH nodes", () => {
  it("runs one ready pod, one process, on each of the three nodes", async () => {
    await commit({ "shipper.yaml": daemonSet("v1") }, "log shipper on every node");
    await eventually(async () => {
      const pods = await daemonPods();
      expect(pods.map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2"]);
      expect(pods.every(isReady)).toBe(true);
    }, 60_000);
    for (const index of [0, 1, 2]) await eventually(async () => expect(await processesOn(index)).toHaveLength(1), 20_000);
    await eventually(async () => {
      const status = (await store.getObject({ kind: "DaemonSet", namespace: "default", name: "shipper" }))!.status;
      expect(status).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, numberAvailable: 3, updatedNumberScheduled: 3, health: "Healthy" });
    }, 20_000);
  }, 90_000);

  it("rolls a new template out one node at a time (maxUnavailable 1)", async () => {
    const readyCounts: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        readyCounts.push((await daemonPods()).filter(isReady).length);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await commit({ "shipper.yaml": daemonSet("v2") }, "log shipper v2");
    await eventually(async () => {
      const pods = await daemonPods();
      expect(pods.map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2"]);
      expect(pods.every((pod) => isReady(pod) && JSON.stringify(pod.spec).includes('"v2"'))).toBe(true);
    }, 60_000);
    sampling = false;
    await sampler;
    expect(Math.min(...readyCounts)).toBeGreaterThanOrEqual(2);
    for (const index of [0, 1, 2]) await eventually(async () => expect(await processesOn(index)).toHaveLength(1), 20_000);
  }, 90_000);

  it("gives a node added to Git its own pod, running there", async () => {
    await commit({ [nodeFile(3)]: nodeManifest(3) }, "a fourth node");
    await eventually(async () => {
      const pods = await daemonPods();
      expect(pods.map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2", "node-3"]);
      expect(pods.every(isReady)).toBe(true);
    }, 60_000);
    await eventually(async () => expect(await processesOn(3)).toHaveLength(1), 20_000);
    // The others were left as they were: still one each.
    for (const index of [0, 1, 2]) expect(await processesOn(index)).toHaveLength(1);
    await eventually(async () => {
      const status = (await store.getObject({ kind: "DaemonSet", namespace: "default", name: "shipper" }))!.status;
      expect(status).toMatchObject({ desiredNumberScheduled: 4, numberAvailable: 4 });
    }, 20_000);
  }, 90_000);

  it("takes the pod away with the node when its manifest is removed, and stops its process", async () => {
    const [onFourth] = await processesOn(3);
    await commit({ [nodeFile(3)]: null }, "retire the fourth node");
    await eventually(async () => expect((await daemonPods()).map(nodeOf).sort()).toEqual(["node-0", "node-1", "node-2"]), 30_000);
    await eventually(async () => expect(await processesOn(3)).toEqual([]), 30_000);
    expect(onFourth).toBeDefined();
    for (const index of [0, 1, 2]) expect(await processesOn(index)).toHaveLength(1);
    await eventually(async () => {
      const status = (await store.getObject({ kind: "DaemonSet", namespace: "default", name: "shipper" }))!.status;
      expect(status).toMatchObject({ desiredNumberScheduled: 3, numberAvailable: 3, numberMisscheduled: 0 });
    }, 20_000);
  }, 90_000);

  it("removes every pod and process when the DaemonSet is deleted from Git", async () => {
    await commit({ "shipper.yaml": null }, "no more log shipper");
    await eventually(async () => expect(await daemonPods()).toEqual([]), 30_000);
    for (const index of [0, 1, 2]) await eventually(async () => expect(await processesOn(index)).toEqual([]), 30_000);
  }, 60_000);
});
