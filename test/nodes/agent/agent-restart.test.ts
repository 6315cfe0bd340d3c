import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logging.ts";
import { Agent, StateDirInUseError } from "../../../src/nodes/agent/index.ts";
import { createProcessRuntime } from "../../../src/nodes/agent/runtime/index.ts";
import { PROTOCOL_VERSION, type ContainerStatus } from "../../../src/nodes/protocol.ts";
import { agentCommand, agentId, agentPid, agentStateDir, alive, killAgent, processesOfAgent } from "../../helpers/agent.ts";
import { eventually } from "../../helpers/eventually.ts";

/**
 * An agent killed together with its pods (SIGKILL of the agent and of every
 * process it started, state dir kept), then started again: each container
 * runs again exactly once, and that start counts as a restart, however many
 * starts of the agent race each other (the node link and a retry, two
 * control planes, `connect` bridges).
 */

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const hello = { protocolVersion: PROTOCOL_VERSION, node: { name: "n1", address: "127.0.0.1" } };

/** `capstan-agent serve --daemon`, as the node link runs it: exits 0 once an agent listens. */
async function serveDaemon(stateDir: string): Promise<void> {
  const [file, ...args] = agentCommand.split(" ");
  await run(file!, [...args, "serve", "--daemon", "--state-dir", stateDir]);
}

async function peer(path: string) {
  const socket: Socket = createConnection(path);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  cleanups.push(async () => void socket.destroy());
  const messages: Record<string, unknown>[] = [];
  createInterface({ input: socket }).on("line", (line) => messages.push(JSON.parse(line) as Record<string, unknown>));
  let next = 1;
  return {
    request: async (method: string, params: unknown): Promise<unknown> => {
      const id = next++;
      socket.write(`${JSON.stringify({ id, method, params })}\n`);
      const answer = await eventually(() => {
        const found = messages.find((message) => message.id === id);
        expect(found).toBeDefined();
        return found!;
      }, 30_000);
      expect(answer.error).toBeUndefined();
      return answer.result;
    },
  };
}

/** A pod whose container appends its pid to `starts` at every start, then sleeps. */
function recordingPod(starts: string) {
  return {
    uid: "u1",
    namespace: "default",
    name: "kv-1",
    // $$$$ is "$$" once the agent has expanded $(VAR) references: the shell's pid.
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: "kv", command: ["sh", "-c", `echo $$$$ >> ${starts}; exec sleep 1000`] }] },
  };
}

async function startLines(starts: string): Promise<number[]> {
  return (await readFile(starts, "utf8").catch(() => "")).split("\n").filter(Boolean).map(Number);
}

async function recordedPid(stateDir: string): Promise<number | undefined> {
  const state = JSON.parse(await readFile(join(stateDir, "state.json"), "utf8")) as {
    records: Record<string, { containers: Record<string, { current?: { pid?: number } }> }>;
  };
  return state.records.u1?.containers.kv?.current?.pid;
}

async function containerStatus(stateDir: string): Promise<ContainerStatus> {
  const client = await peer(join(stateDir, "agent.sock"));
  await client.request("hello", hello);
  const result = (await client.request("statuses", {})) as { pods: { containerStatuses: ContainerStatus[] }[] };
  return result.pods[0]!.containerStatuses[0]!;
}

/** A real agent (the CLI, as the node link starts it) running the recording pod, its record on disk. */
async function agentWithPod(): Promise<{ stateDir: string; starts: string; pod: ReturnType<typeof recordingPod> }> {
  const { stateDir, cleanup } = await agentStateDir();
  cleanups.push(cleanup);
  const starts = join(stateDir, "starts");
  const pod = recordingPod(starts);
  await serveDaemon(stateDir);
  const client = await peer(join(stateDir, "agent.sock"));
  await client.request("hello", hello);
  await client.request("syncPods", { generation: 1, pods: [pod] });
  await eventually(async () => expect(await recordedPid(stateDir)).toBeDefined(), 20_000);
  return { stateDir, starts, pod };
}

describe("an agent killed with its pods and started again", () => {
  it("runs each container again once, counted as a restart, even when starts of the agent race", async () => {
    const { stateDir, starts, pod } = await agentWithPod();
    // A race: a few rounds, so that a start that only sometimes slips through is caught.
    for (let round = 1; round <= 3; round += 1) {
      const killed = await recordedPid(stateDir);
      const before = await startLines(starts);
      await killAgent(stateDir, { podsToo: true });
      await eventually(() => expect(alive(killed!)).toBe(false));

      // Starters at once (each found no agent listening): all succeed, one agent runs.
      await Promise.all([serveDaemon(stateDir), serveDaemon(stateDir), serveDaemon(stateDir)]);
      const client = await peer(join(stateDir, "agent.sock"));
      await client.request("hello", hello);
      // The control plane resends the same pod set as soon as it is connected.
      await client.request("syncPods", { generation: 1, pods: [pod] });

      await eventually(async () => expect((await containerStatus(stateDir)).state).toHaveProperty("running"), 20_000);
      // Long enough for a second agent's start, its orphan sweep or a loser's leftover process to show.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const status = await containerStatus(stateDir);
      const id = (await agentId(stateDir))!;
      expect(await processesOfAgent(id), `round ${round}: one process of the container`).toEqual([status.pid]);
      expect(await startLines(starts), `round ${round}: started once more`).toEqual([...before, status.pid]);
      expect(status.restartCount, `round ${round}: the start after the kill is a restart`).toBe(round);
      expect(status.lastState).toMatchObject({ terminated: { reason: "Unknown", exitCode: null } });
      await eventually(async () => expect(await recordedPid(stateDir)).toBe(status.pid));
    }
  }, 120_000);

  it("killed alone (its pods live on), is started again and re-adopts them: same process, no restart", async () => {
    const { stateDir, starts } = await agentWithPod();
    const pid = (await recordedPid(stateDir))!;
    const agent = (await agentPid(stateDir))!;
    await killAgent(stateDir);
    await eventually(() => expect(alive(agent)).toBe(false));

    // The pods outlive the agent and must not hold its state dir's lock (close-on-exec): the new agent starts.
    await serveDaemon(stateDir);
    const status = await containerStatus(stateDir);
    expect(status).toMatchObject({ pid, restartCount: 0 });
    expect(await startLines(starts)).toEqual([pid]);
    expect(await processesOfAgent((await agentId(stateDir))!)).toEqual([pid]);
  }, 60_000);
});

describe("one agent per state dir", () => {
  it("a second agent opened on the state dir while the first is still adopting is refused before it touches anything", async () => {
    const { stateDir, starts, pod } = await agentWithPod();
    const killed = await recordedPid(stateDir);
    await killAgent(stateDir, { podsToo: true });
    await eventually(() => expect(alive(killed!)).toBe(false));

    const open = () => Agent.open({ stateDir, log: silentLogger, runtimes: new Map([["process", createProcessRuntime()]]) });
    const outcomes = await Promise.allSettled([open(), open()]);
    const opened = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
    for (const agent of opened) {
      cleanups.push(async () => {
        await agent.close();
        await agent.removeSecretRoot();
      });
    }
    expect(opened).toHaveLength(1);
    const refused = outcomes.find((outcome) => outcome.status === "rejected");
    expect(refused?.status === "rejected" && refused.reason).toBeInstanceOf(StateDirInUseError);

    const agent = opened[0]!;
    await eventually(() => expect(agent.statuses()[0]?.containerStatuses[0]?.state).toHaveProperty("running"));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const status = agent.statuses()[0]!.containerStatuses[0]!;
    expect(status.restartCount).toBe(1);
    expect(await processesOfAgent(agent.agentId)).toEqual([status.pid]);
    expect(await startLines(starts)).toEqual([killed, status.pid]);
    expect(agent.statuses().map((candidate) => candidate.uid)).toEqual([pod.uid]);

    // Closed, it lets the next one in.
    await agent.close();
    const next = await open();
    cleanups.push(async () => {
      await next.close();
      await next.removeSecretRoot();
    });
    expect(next.statuses()[0]!.containerStatuses[0]).toMatchObject({ pid: status.pid, restartCount: 1 });
  }, 60_000);
});
