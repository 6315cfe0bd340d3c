import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadUpConfig } from "../../src/config.ts";
import { startControlPlane, type ControlPlane } from "../../src/controlplane.ts";
import { createPool } from "../../src/db/index.ts";
import { PgDesiredStore, type StoredObject } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { statusSchema } from "../../src/status/index.ts";
import { agentCommand, agentId, agentStateDir, processesOfAgent } from "../helpers/agent.ts";
import { eventually } from "../helpers/eventually.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { requireSshd, sshNodeManifest, startSshd, type SshdServer } from "../helpers/sshd.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * A HorizontalPodAutoscaler end to end on one real SSH node: pods that burn
 * CPU far beyond their small request are scaled out to maxReplicas from the
 * agent's /proc samples, and once the burn stops they are scaled back in
 * after the manifest's short scale-down window. Git's `replicas: 1` is
 * ignored throughout.
 */

const database = useTestDatabase();
let sshd: SshdServer;
let agent: { stateDir: string; cleanup(): Promise<void> };
let repo: TestRepo;
let dataDir: { path: string; cleanup(): Promise<void> };
let controlPlane: ControlPlane;
let store: PgDesiredStore;
let pool: ReturnType<typeof createPool>;
let burnFile: string;

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
          env: [{ name: BURN_FILE, value: "${burnFile}" }]
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
  return (await store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.deletedAt === null);
}

async function podProcesses(): Promise<number[]> {
  const id = await agentId(agent.stateDir);
  return id ? processesOfAgent(id) : [];
}

async function autoscalerStatus(): Promise<{ desiredReplicas?: number; currentMetrics?: { resource: { current: { averageUtilization?: number } } }[] }> {
  return ((await store.getObject({ kind: "HorizontalPodAutoscaler", namespace: "default", name: "web" }))?.status ?? {}) as never;
}

beforeAll(async () => {
  requireSshd();
  sshd = await startSshd({ address: "127.0.0.6" });
  agent = await agentStateDir();
  repo = await createRepo();
  dataDir = await tempDir("capstan-e2e-hpa-");
  burnFile = join(dataDir.path, "burn");
  await writeFile(burnFile, "");
  await repo.writeAll({ "nodes/node-0.yaml": sshNodeManifest("node-0", sshd, { stateDir: agent.stateDir, agentCommand }) });
  await repo.commit("one node");
  const config = loadUpConfig(
    { repo: repo.dir, dataDir: dataDir.path, port: "0", pollIntervalSeconds: "3600" },
    { DATABASE_URL: database().url, CAPSTAN_RESYNC_INTERVAL: "5" },
  );
  controlPlane = await startControlPlane(config, silentLogger);
  pool = createPool(database().url);
  store = new PgDesiredStore(pool);
  await eventually(async () => {
    const [node] = await store.listObjects({ kind: "Node" });
    expect((node?.status as { conditions?: { status: string }[] }).conditions?.[0]?.status).toBe("True");
  }, 30_000);
}, 120_000);

afterAll(async () => {
  await controlPlane?.stop();
  await pool?.end();
  // Kills the agent and every pod process it started.
  await agent?.cleanup();
  await sshd?.stop();
  await repo?.cleanup();
  await dataDir?.cleanup();
}, 60_000);

describe("a CPU-bound Deployment with a HorizontalPodAutoscaler", () => {
  it("is scaled out to maxReplicas while it burns CPU, Git's replicas: 1 ignored", async () => {
    await repo.writeAll(manifests());
    await repo.commit("web with an autoscaler");
    controlPlane.sync.trigger();
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

    const response = await fetch(`${controlPlane.url}/api/status`);
    const web = statusSchema.parse(await response.json()).workloads.find((workload) => workload.name === "web");
    expect(web).toMatchObject({ desired: 3, autoscaledBy: "web", gitReplicas: 1 });
  }, 150_000);

  it("is scaled back in to minReplicas once the burn stops, after its 5 s scale-down window", async () => {
    await rm(burnFile);
    await eventually(async () => expect((await autoscalerStatus()).desiredReplicas).toBe(1), 90_000);
    await eventually(async () => expect(await activePods()).toHaveLength(1), 30_000);
    await eventually(async () => expect(await podProcesses()).toHaveLength(1), 20_000);
    const events = await store.listEvents();
    expect(events.filter((event) => event.reason === "SuccessfulRescale").map((event) => event.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^New size: 3; reason: cpu resource utilization/), "New size: 1; reason: All metrics below target"]),
    );
  }, 150_000);
});
