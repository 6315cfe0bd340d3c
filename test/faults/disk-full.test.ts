import { execFile } from "node:child_process";
import { open, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { alive } from "../helpers/agent.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * The disk under a node's agent state dir fills up (a small tmpfs mounted
 * there, filled by a file of the test's). The pods already running must be
 * left alone (same processes). A change that needs to write state, a new pod,
 * is applied (the agent's design: refusing would leave the node
 * half-converged) but cannot be saved: that must show as a clear error on the
 * Node (its status and a Warning event, naming the node and ENOSPC), the state
 * file must stay the last whole one with no temporary file left beside it,
 * and once space is freed the agent must save the current state on its own
 * (no other change needed) and the error must clear.
 */

const run = promisify(execFile);
const tmpfsBytes = 32 * 1024 * 1024;

const cluster = useCluster({
  nodes: 1,
  firstAddress: "127.0.0.91",
  name: "disk-full",
  // Mounted before the agent starts; the agent's cleanup (killAgent with remove) unmounts it.
  beforeStart: async (started) => {
    await run("mount", ["-t", "tmpfs", "-o", `size=${tmpfsBytes},mode=0700`, "tmpfs", started.agents[0]!.stateDir]);
  },
});

function deployment(name: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          command: ["${process.execPath}", "-e", "setInterval(() => {}, 1000)"]
`;
}

async function pods(app: string): Promise<StoredObject[]> {
  return (await cluster.store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.labels.app === app);
}

/** Writes zeros into `path` until the file system refuses with ENOSPC. */
async function fill(path: string): Promise<void> {
  const handle = await open(path, "w");
  const chunk = Buffer.alloc(1024 * 1024);
  try {
    for (;;) await handle.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    await handle.close().catch(() => undefined);
  }
  // The last partial blocks too: small writes until not one byte more fits.
  const tail = await open(path, "a");
  try {
    for (;;) await tail.write(Buffer.alloc(512));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    await tail.close().catch(() => undefined);
  }
}

describe("a full disk under a node's agent state dir", () => {
  it("keeps running pods untouched, reports the full disk on the Node, and saves the state on its own once space is freed", async () => {
    const stateDir = cluster.agents[0]!.stateDir;
    await cluster.commit({ "web.yaml": deployment("web", 2) }, "web");
    await eventually(async () => expect((await pods("web")).filter((pod) => (pod.status as { phase?: string }).phase === "Running")).toHaveLength(2), 60_000);
    await eventually(async () => expect(await cluster.processesOn(0)).toHaveLength(2), 20_000);
    const runningPids = (await cluster.processesOn(0)).sort();
    const goodState = await readFile(join(stateDir, "state.json"), "utf8");

    const filler = join(stateDir, "filler");
    await fill(filler);
    try {
      await cluster.commit({ "extra.yaml": deployment("extra", 1) }, "extra, on a node whose disk is full");
      await eventually(async () => {
        const node = await cluster.store.getObject({ kind: "Node", namespace: "", name: "node-0" });
        expect((node!.status as { nodeInfo?: { stateError?: string } }).nodeInfo?.stateError).toMatch(/ENOSPC: no space left on device/);
        const events = await cluster.store.listEvents({ kind: "Node", name: "node-0" });
        expect(events.find((event) => event.reason === "AgentStateWriteFailed")?.message).toMatch(/^node node-0: the agent cannot write its state: ENOSPC: no space left on device/);
      }, 30_000);
      // The running pods were not touched; the new one runs beside them, unsaved.
      expect(runningPids.every(alive)).toBe(true);
      expect(await cluster.processesOn(0)).toEqual(expect.arrayContaining(runningPids));
      const [extra] = await pods("extra");
      // The state file is still the last whole one (without the new pod), and no temporary file was left beside it.
      expect(await readFile(join(stateDir, "state.json"), "utf8")).toBe(goodState);
      expect(goodState).not.toContain(extra!.uid);
      expect((await readdir(stateDir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    } finally {
      await rm(filler, { force: true });
    }

    const freedAt = performance.now();
    await eventually(async () => {
      const [extra] = await pods("extra");
      expect((extra!.status as { phase?: string }).phase).toBe("Running");
      expect(await readFile(join(stateDir, "state.json"), "utf8")).toContain(extra!.uid);
      const node = await cluster.store.getObject({ kind: "Node", namespace: "", name: "node-0" });
      expect((node!.status as { nodeInfo?: { stateError?: string } }).nodeInfo?.stateError).toBeUndefined();
      const events = await cluster.store.listEvents({ kind: "Node", name: "node-0" });
      expect(events.map((event) => event.reason)).toContain("AgentStateWritten");
    }, 30_000);
    console.info(`[figure] disk-full: space freed -> state saved with the new pod and the Node's error cleared in ${Math.round(performance.now() - freedAt)} ms`);
    expect(runningPids.every(alive)).toBe(true);
    expect((await readdir(stateDir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  }, 150_000);
});
