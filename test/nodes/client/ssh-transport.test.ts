import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Duplex } from "node:stream";
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AgentUnavailableError,
  ConfigError,
  HostKeyMismatchError,
  NodeUnreachableError,
  TransportClosedError,
} from "../../../src/errors.ts";
import { createLogger } from "../../../src/logging.ts";
import { createSshTransport, type SshTransportOptions } from "../../../src/nodes/client/ssh-transport.ts";
import type { AgentTransport } from "../../../src/nodes/client/transport.ts";
import { fakeAgentCommand, fakeAgentPidFile, fakeAgentPids, stopFakeAgents } from "../../helpers/fake-agent.ts";
import { requireSshd, type SshdServer, startSshd } from "../../helpers/sshd.ts";

/** A node whose sshd allows stream forwarding, as Debian's does by default. */
let node: SshdServer;
/** A node whose sshd forbids it (AllowStreamLocalForwarding no). */
let lockedNode: SshdServer;
let privateKey: string;
const user = "root";

const transports: AgentTransport[] = [];
const stateDirs: string[] = [];

beforeAll(async () => {
  requireSshd();
  [node, lockedNode] = await Promise.all([
    startSshd({ address: "127.0.0.2" }),
    startSshd({ address: "127.0.0.3", allowStreamLocalForwarding: false }),
  ]);
  privateKey = await readFile(node.clientKey.privateKeyPath, "utf8");
});

afterAll(async () => {
  await Promise.all([node?.stop(), lockedNode?.stop()]);
});

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

async function transportTo(server: SshdServer, overrides: Partial<SshTransportOptions> = {}): Promise<AgentTransport> {
  const transport = createSshTransport({
    node: "node-a",
    address: server.address,
    port: server.port,
    user,
    privateKey,
    pinnedHostKey: server.hostKey,
    location: { stateDir: await newStateDir(), agentCommand: fakeAgentCommand },
    ...overrides,
  });
  transports.push(transport);
  return transport;
}

/** Reads the stream line by line. */
function linesOf(stream: Duplex): (line: string) => Promise<string> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity })[Symbol.asyncIterator]();
  return async (line) => {
    stream.write(`${line}\n`);
    const next = await lines.next();
    if (next.done) throw new Error(`stream ended before answering ${JSON.stringify(line)}`);
    return next.value;
  };
}

/** Log lines of `server` written after `mark` (a length of its log) that contain `text`. */
function logLinesSince(server: SshdServer, mark: number, text: string): string[] {
  return server.log().slice(mark).split("\n").filter((line) => line.includes(text));
}

async function freePortOn(address: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, address, resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

describe("SSH transport", () => {
  it("without a pin, refuses a key other than the one trusted on first use before", async () => {
    const transport = await transportTo(node, { pinnedHostKey: undefined, knownFingerprint: lockedNode.hostKeyFingerprint });
    const error = await rejectionOf(transport.open());
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect(error.message).toContain(node.hostKeyFingerprint);
  });

  it("verifies the pinned host key, starts the agent on first use and carries lines both ways", async () => {
    const transport = await transportTo(node);
    const stateDir = stateDirs.at(-1)!;

    const stream = await transport.open();
    const ask = linesOf(stream);

    expect(await ask("hello")).toBe("echo:hello");
    expect(await ask("second line")).toBe("echo:second line");
    expect(transport.hostKey).toEqual({ fingerprint: node.hostKeyFingerprint, line: node.hostKey, trustedOnFirstUse: false });
    const agentPid = Number((await ask("pid")).slice("pid:".length));
    expect(fakeAgentPidFile(stateDir)).toBe(agentPid);
    expect(fakeAgentPids(stateDir)).toEqual([agentPid]);
  });

  it("opens every stream over one SSH connection, sharing the connection attempt and the agent start", async () => {
    const mark = node.log().length;
    const transport = await transportTo(node);
    const stateDir = stateDirs.at(-1)!;

    // All at once on a fresh transport with no agent running: one connect, one `serve --daemon`.
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => transport.open()));
    const sequential: Duplex[] = [];
    for (let index = 0; index < 10; index++) sequential.push(await transport.open());
    const streams = [...concurrent, ...sequential];
    const answers = await Promise.all(streams.map((stream, index) => linesOf(stream)(`stream ${index}`)));
    expect(answers).toEqual(streams.map((_, index) => `echo:stream ${index}`));
    const pids = new Set(await Promise.all(streams.map((stream) => linesOf(stream)("pid"))));

    expect(logLinesSince(node, mark, "Accepted publickey")).toHaveLength(1);
    expect(node.connectionPids()).toHaveLength(1);
    expect(logLinesSince(node, mark, "Starting session: command")).toHaveLength(1); // the one agent start
    expect(pids.size).toBe(1);
    expect(fakeAgentPids(stateDir)).toHaveLength(1);
  });

  it("refuses a host whose key differs from the pinned one, before authenticating and without a stream", async () => {
    const mark = lockedNode.log().length;
    // lockedNode answers where `node` was pinned: another machine at the node's address.
    const transport = await transportTo(lockedNode, { pinnedHostKey: node.hostKey });
    const stateDir = stateDirs.at(-1)!;

    const error = await rejectionOf(transport.open());

    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect(error).toMatchObject({
      node: "node-a",
      expectedFingerprint: node.hostKeyFingerprint,
      actualFingerprint: lockedNode.hostKeyFingerprint,
      transient: false,
    });
    expect(error.message).toContain(lockedNode.hostKeyFingerprint);
    expect(logLinesSince(lockedNode, mark, "Accepted publickey")).toEqual([]);
    expect(transport.hostKey).toBeUndefined();
    expect(existsSync(join(stateDir, "agent.sock"))).toBe(false);
  });

  it("accepts an unpinned host key and reports it as trusted on first use", async () => {
    const transport = await transportTo(node, { pinnedHostKey: undefined });

    const stream = await transport.open();

    expect(await linesOf(stream)("hi")).toBe("echo:hi");
    expect(transport.hostKey).toEqual({ fingerprint: node.hostKeyFingerprint, line: node.hostKey, trustedOnFirstUse: true });
  });

  it("accepts a pinned key given as a known_hosts line", async () => {
    const transport = await transportTo(node, { pinnedHostKey: `[${node.address}]:${node.port} ${node.hostKey} root@somewhere` });

    expect(await linesOf(await transport.open())("hi")).toBe("echo:hi");
    expect(transport.hostKey?.trustedOnFirstUse).toBe(false);
  });

  it("reports a dropped connection and reconnects on the next open", async () => {
    const mark = node.log().length;
    const transport = await transportTo(node);
    const stream = await transport.open();
    const agentPid = await linesOf(stream)("pid");
    const disconnected = new Promise<Error | undefined>((resolve) => transport.onDisconnect(resolve));
    const streamClosed = new Promise<void>((resolve) => stream.once("close", () => resolve()));

    await node.killConnections();

    await disconnected;
    await streamClosed;
    const again = await transport.open();
    const ask = linesOf(again);
    expect(await ask("after")).toBe("echo:after");
    expect(await ask("pid")).toBe(agentPid); // the agent outlived the connection
    expect(logLinesSince(node, mark, "Accepted publickey")).toHaveLength(2);
    expect(node.connectionPids()).toHaveLength(1);
  });

  it("notices a connection that went silent through keepalives", async () => {
    const transport = await transportTo(node, { keepaliveIntervalMs: 100, keepaliveCountMax: 2 });
    await transport.open();
    const disconnected = new Promise<Error | undefined>((resolve) => transport.onDisconnect(resolve));
    const [connectionPid] = node.connectionPids();
    expect(connectionPid).toBeDefined();

    // A stopped sshd keeps the TCP connection open but answers nothing, like a black-holed network.
    process.kill(connectionPid!, "SIGSTOP");
    try {
      const error = await disconnected;
      expect(error?.message).toMatch(/keepalive/i);
    } finally {
      await node.killConnections(); // SIGKILL ends stopped processes too
    }
    expect(await linesOf(await transport.open())("back")).toBe("echo:back");
  });

  it("stops notifying a listener once it unsubscribes", async () => {
    const transport = await transportTo(node);
    await transport.open();
    const calls: string[] = [];
    const unsubscribe = transport.onDisconnect(() => calls.push("removed"));
    const disconnected = new Promise<void>((resolve) => transport.onDisconnect(() => resolve()));
    unsubscribe();

    await node.killConnections();
    await disconnected;

    expect(calls).toEqual([]);
  });

  it("refuses a pinned host key that is not an OpenSSH public key line", () => {
    const create = () =>
      createSshTransport({
        node: "node-a",
        address: node.address,
        port: node.port,
        user,
        privateKey,
        pinnedHostKey: "SHA256:not-a-key-line",
        location: { stateDir: "/nonexistent", agentCommand: fakeAgentCommand },
      });

    expect(create).toThrow(ConfigError);
  });

  it("fails with NodeUnreachableError when nothing listens", async () => {
    const port = await freePortOn(node.address);
    const transport = await transportTo(node, { port });

    const error = await rejectionOf(transport.open());

    expect(error).toBeInstanceOf(NodeUnreachableError);
    expect(error).toMatchObject({ node: "node-a", address: node.address, port, transient: true });
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("fails with AgentUnavailableError carrying the agent's stderr when the agent cannot start", async () => {
    const broken = await transportTo(node, { location: { stateDir: await newStateDir(), agentCommand: "/nonexistent/capstan-agent" } });

    const error = await rejectionOf(broken.open());

    expect(error).toBeInstanceOf(AgentUnavailableError);
    expect(error.message).toMatch(/exited with code 127: .*\/nonexistent\/capstan-agent: No such file or directory/);
  });

  it("falls back to an exec bridge per stream when sshd forbids stream forwarding", async () => {
    const mark = lockedNode.log().length;
    const transport = await transportTo(lockedNode);
    const stateDir = stateDirs.at(-1)!;

    const first = await transport.open();
    const second = await transport.open();

    expect(await linesOf(first)("one")).toBe("echo:one");
    expect(await linesOf(second)("two")).toBe("echo:two");
    expect(logLinesSince(lockedNode, mark, "refused streamlocal port forward").length).toBeGreaterThan(0);
    expect(logLinesSince(lockedNode, mark, "Accepted publickey")).toHaveLength(1);
    expect(fakeAgentPids(stateDir)).toHaveLength(1);
  });

  it("never puts the private key into an error message or a log line", async () => {
    const logged: string[] = [];
    const log = createLogger({
      level: "debug",
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          logged.push(chunk.toString());
          done();
        },
      }),
    });
    const errors: Error[] = [];
    const pinnedElsewhere = await transportTo(lockedNode, { pinnedHostKey: node.hostKey, log });
    errors.push(await rejectionOf(pinnedElsewhere.open()));
    const refused = await transportTo(node, { port: await freePortOn(node.address), log });
    errors.push(await rejectionOf(refused.open()));
    const noAgent = await transportTo(node, { location: { stateDir: await newStateDir(), agentCommand: "/nonexistent/agent" }, log });
    errors.push(await rejectionOf(noAgent.open()));
    const garbled = privateKey.replace(/[A-Za-z0-9+/]{40}/, (body) => body.split("").reverse().join(""));
    const badKey = await transportTo(node, { privateKey: garbled, log });
    errors.push(await rejectionOf(badKey.open()));
    const working = await transportTo(node, { log });
    await working.open();

    const keyBody = privateKey.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----"));
    expect(keyBody.length).toBeGreaterThan(0);
    const texts = [...errors.map((error) => `${error.message} ${String(error.cause)} ${JSON.stringify(error)}`), ...logged];
    expect(errors.map((error) => error.name)).toEqual(["HostKeyMismatchError", "NodeUnreachableError", "AgentUnavailableError", "ConfigError"]);
    expect(logged.some((line) => line.includes("ssh connected"))).toBe(true);
    for (const text of texts) {
      for (const line of [...keyBody, ...garbled.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----"))]) {
        expect(text).not.toContain(line);
      }
    }
  });

  it("rejects an open whose signal is already aborted", async () => {
    const transport = await transportTo(node);
    const controller = new AbortController();
    controller.abort(new Error("gave up"));

    await expect(transport.open(controller.signal)).rejects.toThrow("gave up");
  });

  it("ends its streams on close, without reporting a disconnect, and refuses to open afterwards", async () => {
    const transport = await transportTo(node);
    const stream = await transport.open();
    const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
    const disconnects: Array<Error | undefined> = [];
    transport.onDisconnect((error) => disconnects.push(error));

    await transport.close();
    await closed;

    await expect(transport.open()).rejects.toBeInstanceOf(TransportClosedError);
    expect(disconnects).toEqual([]);
    await expect.poll(() => node.connectionPids()).toEqual([]);
  });
});
