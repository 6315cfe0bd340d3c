import { readFile, rm } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { unmountUnder } from "../../src/nodes/agent/tmpfs.ts";
import { agentId, agentPid, alive, killAgent } from "../helpers/agent.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * A node's host reboots: its sshd goes away, every process of its agent dies
 * at once (the agent and each pod's process group, SIGKILL), what lived in
 * memory (the /dev/shm secret root: Secret volumes) is lost, and its state dir
 * on disk is kept. When the host is back, the control plane's link starts the
 * agent again (`serve --daemon` over SSH, as for an absent agent), which
 * restarts the pods it had: the same pods, same names and uids (they are the
 * control plane's objects, and the node returned within the eviction grace),
 * running and ready, their Secret files there again. The other node's pods
 * are not touched.
 */

const graceSeconds = 60;
const cluster = useCluster({ nodes: 2, firstAddress: "127.0.0.81", name: "reboot", env: { CAPSTAN_EVICTION_GRACE: String(graceSeconds) } });

// Serves (and so turns ready) only once the Secret file reads as expected: a pod restarted without its Secret volume exits.
const server =
  "if (require('fs').readFileSync('/token/token', 'utf8') !== 'reboot-proof') process.exit(3); require('http').createServer((q, s) => s.end(process.env.POD_NAME)).listen(process.env.PORT, '127.0.0.1')";
const manifests = {
  "web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 4
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 2
      volumes: [{ name: token, secret: { secretName: web } }]
      containers:
        - name: web
          command: ["${process.execPath}", "-e", "${server}"]
          env: [{ name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }]
          ports: [{ name: http, containerPort: 8080 }]
          volumeMounts: [{ name: token, mountPath: /token }]
          readinessProbe: { httpGet: { path: /, port: http }, periodSeconds: 1 }
`,
  "secret.yaml": `apiVersion: v1
kind: Secret
metadata: { name: web }
stringData: { token: reboot-proof }
`,
};

async function pods(): Promise<StoredObject[]> {
  return cluster.store.listObjects({ kind: "Pod", namespace: "default" });
}

const nodeOf = (pod: StoredObject) => (pod.spec as { nodeName?: string }).nodeName;

describe("a node whose host reboots", () => {
  it("runs 4 replicas, two on each node, ready with their Secret", async () => {
    await cluster.commit(manifests, "web with a Secret volume");
    await eventually(async () => {
      const current = await pods();
      expect(current.filter((pod) => (pod.status as { ready?: boolean }).ready)).toHaveLength(4);
      expect(current.filter((pod) => nodeOf(pod) === "node-0")).toHaveLength(2);
    }, 90_000);
  }, 120_000);

  it("gets the same pods back, running and ready, once the host is up again", async () => {
    const stateDir = cluster.agents[0]!.stateDir;
    const before = (await pods()).map((pod) => `${pod.name} ${pod.uid} ${nodeOf(pod)}`).sort();
    const rebootedPids = await cluster.processesOn(0);
    const otherPids = (await cluster.processesOn(1)).sort();
    expect(rebootedPids.length).toBeGreaterThan(0);
    const id = (await agentId(stateDir))!;
    const oldAgent = (await agentPid(stateDir))!;
    const client = cluster.controlPlane.nodes.client("node-0")!;

    // The reboot: the host drops off, every process of the agent dies at once, memory (tmpfs) is wiped; the disk stays.
    await cluster.servers[0]!.down();
    await killAgent(stateDir, { podsToo: true });
    await eventually(() => expect([oldAgent, ...rebootedPids].filter(alive)).toEqual([]), 10_000);
    await unmountUnder(`/dev/shm/capstan-${id}`);
    await rm(`/dev/shm/capstan-${id}`, { recursive: true, force: true });
    await eventually(() => expect(client.state().connected).toBe(false), 20_000);

    const upAt = performance.now();
    await cluster.servers[0]!.up();
    await eventually(async () => {
      expect(client.state().connected).toBe(true);
      const statuses = client.statuses();
      expect(statuses).toHaveLength(2);
      for (const status of statuses) {
        expect(status.ready).toBe(true);
        const pid = status.containerStatuses[0]!.pid!;
        expect(rebootedPids).not.toContain(pid);
        expect(alive(pid)).toBe(true);
      }
      expect((await pods()).filter((pod) => (pod.status as { ready?: boolean }).ready)).toHaveLength(4);
    }, 60_000);
    const readyMs = performance.now() - upAt;
    console.info(`[figure] agent-reboot: host back -> agent restarted and its 2 pods ready in ${Math.round(readyMs)} ms`);

    // A new agent process on the same state dir (same agent id), the same pods by name and uid on the same nodes.
    const newAgent = await agentPid(stateDir);
    expect(newAgent).toBeDefined();
    expect(newAgent).not.toBe(oldAgent);
    expect(await agentId(stateDir)).toBe(id);
    expect((await pods()).map((pod) => `${pod.name} ${pod.uid} ${nodeOf(pod)}`).sort()).toEqual(before);
    expect((await cluster.processesOn(1)).sort()).toEqual(otherPids);
    // Two lives in one state dir's log: the first agent's and the one started after the reboot.
    expect((await readFile(`${stateDir}/agent.log`, "utf8")).match(/capstan-agent listening/g)).toHaveLength(2);
  }, 120_000);
});
