import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { EndpointSliceSpec, StoredObject } from "../../src/desired/index.ts";
import { agentPid, alive } from "../helpers/agent.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { httpGet } from "../helpers/http-get.ts";

/**
 * A node partitioned from the control plane: its sshd listener is stopped and
 * its established SSH connection killed, while its agent and pods keep
 * running (as on a host cut off by the network). Its pods must be replaced on
 * the other nodes within the eviction grace plus a measured bound. When it
 * returns, the link must stop the stale copies before it changes anything
 * else on the node (fencing), and no stale copy may serve the Service beside
 * its replacement: the EndpointSlice and the three nodes' proxies are sampled
 * all along.
 */

const graceSeconds = 3;
const cluster = useCluster({ nodes: 3, firstAddress: "127.0.0.71", name: "partition", env: { CAPSTAN_EVICTION_GRACE: String(graceSeconds) } });
const servicePort = 22000 + Math.floor(Math.random() * 2000);

// One connection per answer, so every request is routed afresh by the proxy it reaches.
const server = "require('http').createServer((q, s) => { s.setHeader('connection', 'close'); s.end(process.env.POD_NAME); }).listen(process.env.PORT, process.env.HOST_IP)";

const manifests = {
  "web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 10
      containers:
        - name: web
          command: ["${process.execPath}", "-e", "${server}"]
          env:
            - { name: HOST_IP, valueFrom: { fieldRef: { fieldPath: status.hostIP } } }
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe:
            exec: { command: ["bash", "-c", "exec 3<>/dev/tcp/$HOST_IP/$PORT"] }
            periodSeconds: 1
          # A stale copy takes 2 s to stop: long enough that anything sent to its node before it is gone shows.
          lifecycle: { preStop: { sleep: { seconds: 2 } } }
`,
  "web-service.yaml": `apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports: [{ name: http, port: ${servicePort}, targetPort: http }]
`,
};

const get = (host: string, port: number): Promise<string> => httpGet(host, port, 2_000);

async function pods(): Promise<StoredObject[]> {
  return cluster.store.listObjects({ kind: "Pod", namespace: "default" });
}

const nodeOf = (pod: StoredObject) => (pod.spec as { nodeName?: string }).nodeName;
const isReady = (pod: StoredObject) => (pod.status as { ready?: boolean }).ready === true;

async function readyEndpoints(): Promise<string[]> {
  const slice = await cluster.store.getObject({ kind: "EndpointSlice", namespace: "default", name: "web" });
  const spec = slice?.spec as EndpointSliceSpec | undefined;
  return (spec?.ports[0]?.endpoints ?? []).filter((endpoint) => endpoint.conditions.ready).map((endpoint) => endpoint.pod);
}

async function servicesGeneration(stateDir: string): Promise<number> {
  const state = JSON.parse(await readFile(join(stateDir, "state.json"), "utf8")) as { services: { generation: number } };
  return state.services.generation;
}

interface Answer {
  at: number;
  node: number;
  pod: string;
}

/** Asks each node's proxy for the Service every ~50 ms and reads the EndpointSlice, until stopped. */
function sampleService(): { answers: Answer[]; slices: { at: number; ready: string[] }[]; stop(): Promise<void> } {
  const answers: Answer[] = [];
  const slices: { at: number; ready: string[] }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(
        cluster.addresses.map(async (address, node) => {
          const pod = await get(address, servicePort).catch(() => undefined);
          if (pod) answers.push({ at: performance.now(), node, pod });
        }),
      );
      slices.push({ at: performance.now(), ready: await readyEndpoints() });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    answers,
    slices,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe("a node partitioned from the control plane", () => {
  it("runs 3 replicas behind a Service, one on each node", async () => {
    await cluster.commit(manifests, "web behind a Service");
    await eventually(async () => {
      const current = await pods();
      expect(current.filter(isReady)).toHaveLength(3);
      expect(new Set(current.map(nodeOf)).size).toBe(3);
      expect(await readyEndpoints()).toHaveLength(3);
      for (const address of cluster.addresses) expect(await get(address, servicePort)).toMatch(/^web-/);
    }, 90_000);
  }, 120_000);

  it("has its pods replaced elsewhere within the grace, and when it returns stops them before anything else, never serving a stale copy beside its replacement", async () => {
    const lost = cluster.servers[0]!;
    const lostState = cluster.agents[0]!.stateDir;
    const stale = (await pods()).filter((pod) => nodeOf(pod) === "node-0").map((pod) => pod.name);
    expect(stale).toHaveLength(1);
    const stalePids = await cluster.processesOn(0);
    expect(stalePids.length).toBeGreaterThan(0);
    const agent = await agentPid(lostState);
    expect(agent).toBeDefined();

    const sampler = sampleService();
    let fencedAt: number | undefined;
    try {
      // The partition: nothing answers on the node's SSH address, and the established link is cut; the agent stays.
      const partitionedAt = performance.now();
      await lost.down();
      await eventually(async () => {
        const current = await pods();
        expect(current.filter((pod) => nodeOf(pod) === "node-0")).toEqual([]);
        expect(current.filter(isReady)).toHaveLength(3);
        expect(await readyEndpoints()).toHaveLength(3);
      }, 60_000);
      const replacedMs = performance.now() - partitionedAt;
      console.info(`[figure] node-partition: partition -> replacements ready elsewhere in ${Math.round(replacedMs)} ms (grace ${graceSeconds} s)`);
      // Detection (the SSH link drops at once), the grace, then a new pod started, probed and ready: 15 s is ample past the grace.
      expect(replacedMs).toBeLessThan(graceSeconds * 1000 + 15_000);
      // Cut off, the node kept its agent and its pods (the design: an agent keeps its pods when the control plane is gone).
      expect(alive(agent!)).toBe(true);
      expect(stalePids.every(alive)).toBe(true);
      const generationWhileAway = await servicesGeneration(lostState);
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      // The node returns. Watch, every few ms, when its stale copies are gone and when its Service routes first change.
      const returnedAt = performance.now();
      await lost.up();
      let routesChangedAt: number | undefined;
      await eventually(async () => {
        // One time per pass, routes read before the processes: a route change first seen in the same pass as the
        // stop counts as after it (both happened since the last pass), one seen in an earlier pass as before it.
        const pass = performance.now();
        if (routesChangedAt === undefined && (await servicesGeneration(lostState)) !== generationWhileAway) routesChangedAt = pass;
        if (fencedAt === undefined && !stalePids.some(alive)) fencedAt = pass;
        expect(fencedAt).toBeDefined();
        expect(routesChangedAt).toBeDefined();
      }, 60_000);
      console.info(`[figure] node-partition: node back -> stale pods stopped in ${Math.round(fencedAt! - returnedAt)} ms, its Service routes updated ${Math.round(routesChangedAt! - fencedAt!)} ms after that`);
      // Fencing: the stale copies were gone before the node was told anything else.
      expect(fencedAt!).toBeLessThanOrEqual(routesChangedAt!);
      await cluster.waitForNodesReady(3, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      await sampler.stop();
    }

    const final = (await pods()).map((pod) => pod.name);
    expect(final).toHaveLength(3);
    expect(final.filter((name) => stale.includes(name))).toEqual([]);
    // The EndpointSlice never listed more ready endpoints than replicas.
    expect(Math.max(...sampler.slices.map((slice) => slice.ready.length))).toBeLessThanOrEqual(3);
    // Once its replacement was ready, a stale copy never answered through a connected node's proxy, nor through
    // the returning node's own proxy after the link came back and fenced it.
    const viaConnected = sampler.answers.filter((answer) => answer.node !== 0 && stale.includes(answer.pod) && answer.at > replacedAtOf(sampler.slices, stale));
    expect(viaConnected).toEqual([]);
    expect(sampler.answers.filter((answer) => stale.includes(answer.pod) && answer.at > fencedAt!)).toEqual([]);
    // Every proxy answered from the final pods only, once the node was back.
    const tail = sampler.answers.slice(-30);
    expect(tail.length).toBeGreaterThan(0);
    expect(new Set(tail.map((answer) => answer.pod)).size).toBeLessThanOrEqual(3);
    for (const answer of tail) expect(final).toContain(answer.pod);
  }, 170_000);
});

/** When the EndpointSlice last listed a stale pod as ready: from then on no connected proxy may route to it. */
function replacedAtOf(slices: { at: number; ready: string[] }[], stale: string[]): number {
  const last = slices.filter((slice) => slice.ready.some((pod) => stale.includes(pod))).at(-1);
  // A proxy learns a slice change through a push: allow it two seconds to arrive.
  return (last?.at ?? 0) + 2_000;
}
