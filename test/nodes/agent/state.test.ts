import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadState, saveState, stateFileName } from "../../../src/nodes/agent/state.ts";

/** The agent's state file across versions of the agent. */

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "capstan-state-"));
  dirs.push(dir);
  return dir;
}

describe("agent state", () => {
  it("loads a state written before Services existed, with no Services", async () => {
    const dir = await stateDir();
    await writeFile(join(dir, stateFileName), JSON.stringify({ version: 1, agentId: "a1", generation: 4, pods: [], records: {} }));
    const state = await loadState(dir);
    expect(state.generation).toBe(4);
    expect(state.services).toEqual({ generation: 0, routes: [] });
  });

  it("keeps the Service routes it saved, with their endpoints", async () => {
    const dir = await stateDir();
    const state = await loadState(dir);
    state.services = {
      generation: 9,
      routes: [{ namespace: "shop", name: "web", headless: false, ports: [{ name: "http", port: 8080, nodePort: 30080, endpoints: [{ address: "10.0.0.7", port: 41000, pod: "shop/web-0" }] }] }],
    };
    await saveState(dir, state);
    expect((await loadState(dir)).services).toEqual(state.services);
  });

  it("names the file and field of a saved route that is not valid", async () => {
    const dir = await stateDir();
    const bad = { version: 1, agentId: "a1", generation: 0, pods: [], records: {}, services: { generation: 1, routes: [{ namespace: "shop", name: "web", ports: [{ port: 0, endpoints: [] }] }] } };
    await writeFile(join(dir, stateFileName), JSON.stringify(bad));
    await expect(loadState(dir)).rejects.toThrow(/state\.json: services\.routes\[0\]\.ports\[0\]\.port: /);
  });
});
