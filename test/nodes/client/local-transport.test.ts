import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Duplex } from "node:stream";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { AgentUnavailableError, TransportClosedError } from "../../../src/errors.ts";
import { createLocalTransport } from "../../../src/nodes/client/local-transport.ts";
import type { AgentTransport } from "../../../src/nodes/client/transport.ts";
import { fakeAgentCommand, fakeAgentPidFile, fakeAgentPids, fakeAgentScript, stopFakeAgents } from "../../helpers/fake-agent.ts";

const transports: AgentTransport[] = [];
const stateDirs: string[] = [];

afterEach(async () => {
  await Promise.all(transports.splice(0).map((transport) => transport.close()));
  for (const stateDir of stateDirs.splice(0)) {
    await stopFakeAgents(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  }
});

async function newStateDir(): Promise<string> {
  const stateDir = await mkdtemp(join(tmpdir(), "capstan-test-agent-"));
  stateDirs.push(stateDir);
  return stateDir;
}

function track(transport: AgentTransport): AgentTransport {
  transports.push(transport);
  return transport;
}

/** Writes a line and resolves with the answer. */
function linesOf(stream: Duplex): (line: string) => Promise<string> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity })[Symbol.asyncIterator]();
  return async (line) => {
    stream.write(`${line}\n`);
    const next = await lines.next();
    if (next.done) throw new Error(`stream ended before answering ${JSON.stringify(line)}`);
    return next.value;
  };
}

describe("local transport", () => {
  it("starts the agent when its socket is missing and carries lines both ways", async () => {
    const stateDir = await newStateDir();
    const transport = track(createLocalTransport({ location: { stateDir, agentCommand: fakeAgentCommand } }));

    const ask = linesOf(await transport.open());

    expect(await ask("hello")).toBe("echo:hello");
    const agentPid = Number((await ask("pid")).slice("pid:".length));
    expect(fakeAgentPidFile(stateDir)).toBe(agentPid);
    expect(fakeAgentPids(stateDir)).toEqual([agentPid]);
    expect(transport.hostKey).toBeUndefined();
  });

  it("reuses a running agent: concurrent opens, later opens and other transports all reach one process", async () => {
    const stateDir = await newStateDir();
    const location = { stateDir, agentCommand: fakeAgentCommand };
    const transport = track(createLocalTransport({ location }));

    const concurrent = await Promise.all(Array.from({ length: 5 }, () => transport.open()));
    const later = await transport.open();
    const fromAnother = await track(createLocalTransport({ location })).open();
    const pids = await Promise.all([...concurrent, later, fromAnother].map((stream) => linesOf(stream)("pid")));

    expect(new Set(pids).size).toBe(1);
    expect(fakeAgentPids(stateDir)).toHaveLength(1);
  });

  it("restarts an agent that went away, on the next open", async () => {
    const stateDir = await newStateDir();
    const transport = track(createLocalTransport({ location: { stateDir, agentCommand: fakeAgentCommand } }));
    const first = await transport.open();
    const firstPid = await linesOf(first)("pid");
    const ended = new Promise<void>((resolve) => first.once("close", () => resolve()));

    await stopFakeAgents(stateDir); // SIGKILL: the socket file stays behind and refuses connections
    await ended;

    const ask = linesOf(await transport.open());
    expect(await ask("back")).toBe("echo:back");
    expect(await ask("pid")).not.toBe(firstPid);
    expect(fakeAgentPids(stateDir)).toHaveLength(1);
  });

  it("hands the start to spawnAgent when one is given", async () => {
    const stateDir = await newStateDir();
    const calls: string[][] = [];
    const transport = track(
      createLocalTransport({
        location: { stateDir, agentCommand: "unused-when-spawnAgent-is-given" },
        spawnAgent: async (args) => {
          calls.push(args);
          await promisify(execFile)(process.execPath, [fakeAgentScript, ...args]);
        },
      }),
    );

    expect(await linesOf(await transport.open())("hi")).toBe("echo:hi");
    expect(calls).toEqual([["serve", "--daemon", "--state-dir", stateDir]]);
  });

  it("fails with AgentUnavailableError carrying the command's output when the agent cannot start", async () => {
    const stateDir = await newStateDir();
    const transport = track(createLocalTransport({ location: { stateDir, agentCommand: "/nonexistent/capstan-agent" } }));

    const error = await transport.open().then(
      () => undefined,
      (rejection: unknown) => rejection as Error,
    );

    expect(error).toBeInstanceOf(AgentUnavailableError);
    expect(error?.message).toMatch(/exited with code 127: .*\/nonexistent\/capstan-agent.*not found/);
  });

  it("ends its streams on close and refuses to open afterwards", async () => {
    const stateDir = await newStateDir();
    const transport = track(createLocalTransport({ location: { stateDir, agentCommand: fakeAgentCommand } }));
    const stream = await transport.open();
    const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));

    await transport.close();
    await closed;

    await expect(transport.open()).rejects.toBeInstanceOf(TransportClosedError);
  });
});
