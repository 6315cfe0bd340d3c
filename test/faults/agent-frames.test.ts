/**
 * Bad frames at the agent's socket: the real agent server on its unix socket,
 * spoken to raw. Garbage, truncated and wrong-shaped frames each get an error
 * answer; a frame split anywhere (even inside a multi-byte character) reads
 * as if sent whole; the agent keeps serving this connection and others.
 * `FAULT_FRAMES` sets the number of generated runs (default 300).
 */
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logging.ts";
import { Agent, serveAgent, type AgentServer } from "../../src/nodes/agent/index.ts";
import { createProcessRuntime } from "../../src/nodes/agent/runtime/index.ts";
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from "../../src/nodes/protocol.ts";
import { agentStateDir } from "../helpers/agent.ts";
import { eventually } from "../helpers/eventually.ts";

const runs = Number(process.env.FAULT_FRAMES ?? 300);
const cleanups: Array<() => Promise<void>> = [];
let server: AgentServer;

beforeAll(async () => {
  const dir = await agentStateDir();
  cleanups.push(dir.cleanup);
  const agent = await Agent.open({ stateDir: dir.stateDir, log: silentLogger, runtimes: new Map([["process", createProcessRuntime()]]) });
  server = await serveAgent(agent, join(dir.stateDir, "agent.sock"), silentLogger);
  cleanups.push(async () => {
    await server.close();
    await agent.close();
    await agent.removeSecretRoot();
  });
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Message = { id?: number | null; result?: unknown; error?: { code: string; message: string } };

/** A raw peer that collects every answer line. */
async function connect(): Promise<{ socket: Socket; messages: Message[]; write(data: string | Uint8Array): Promise<void> }> {
  const socket = createConnection(server.path);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  cleanups.push(async () => void socket.destroy());
  const messages: Message[] = [];
  let pending = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      messages.push(JSON.parse(pending.slice(0, newline)) as Message);
      pending = pending.slice(newline + 1);
    }
  });
  const write = (data: string | Uint8Array) => new Promise<void>((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())));
  return { socket, messages, write };
}

async function answerTo(messages: Message[], id: number): Promise<Message> {
  return eventually(() => {
    const answer = messages.find((message) => message.id === id);
    expect(answer).toBeDefined();
    return answer!;
  });
}

const helloFrame = (id: number, nodeName: string) =>
  `${JSON.stringify({ id, method: "hello", params: { protocolVersion: PROTOCOL_VERSION, node: { name: nodeName, address: "127.0.0.1" } } })}\n`;

/** One bad line (no newline inside it): what a broken or hostile peer sends. */
const badLine: fc.Arbitrary<Uint8Array> = fc.oneof(
  // Garbage bytes, invalid UTF-8 and NULs included.
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => bytes.map((byte) => (byte === 0x0a ? 0x20 : byte))),
  // A valid request cut short.
  fc.tuple(fc.constantFrom(helloFrame(1, "n1"), '{"id":4,"method":"syncPods","params":{"generation":1,"pods":[]}}'), fc.nat()).map(([frame, cut]) =>
    new TextEncoder().encode(frame.trimEnd().slice(0, cut % frame.trimEnd().length)),
  ),
  // Valid JSON of the wrong shape.
  fc.jsonValue({ maxDepth: 4 }).map((value) => new TextEncoder().encode(JSON.stringify(value))),
  fc.record({ id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)), method: fc.constantFrom("hello", "syncPods", "logs", "exec", "__proto__"), params: fc.jsonValue({ maxDepth: 3 }) }).map((value) =>
    new TextEncoder().encode(JSON.stringify(value)),
  ),
);

function asLines(lines: Uint8Array[]): Uint8Array {
  return Buffer.concat(lines.flatMap((line) => [line, Buffer.from("\n")]));
}

describe("agent protocol frames", () => {
  it(`answers every bad frame with an error and keeps serving (${runs} runs)`, async () => {
    const client = await connect();
    let pingId = 1_000_000;
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(badLine, { minLength: 1, maxLength: 5 }), async (lines) => {
        // A blank line is skipped, as NDJSON allows; every other line gets exactly one error answer.
        const expected = lines.filter((line) => Buffer.from(line).toString("utf8").trim() !== "").length;
        client.messages.length = 0;
        const id = ++pingId;
        await client.write(asLines(lines));
        await client.write(`${JSON.stringify({ id, method: "ping", params: {} })}\n`);
        expect(await answerTo(client.messages, id)).toEqual({ id, result: {} });
        const errors = client.messages.filter((message) => message.id !== id);
        expect(errors).toHaveLength(expected);
        for (const error of errors) expect(["BadFrame", "BadRequest"]).toContain(error.error?.code);
        answered += errors.length;
      }),
      { numRuns: runs },
    );
    expect(answered).toBeGreaterThan(runs);
    // Another connection is served as well.
    const other = await connect();
    await other.write(helloFrame(1, "n1"));
    expect(await answerTo(other.messages, 1)).toMatchObject({ result: { protocolVersion: PROTOCOL_VERSION } });
  }, 120_000);

  it("reads a frame split at every byte boundary, inside multi-byte characters too, as if sent whole", async () => {
    // Node names are plain strings to the agent: ones with multi-byte characters make splits inside a character.
    const frame = Buffer.from(helloFrame(1, "nöde-✓-🚀"));
    for (let split = 1; split < frame.length; split++) {
      const client = await connect();
      await client.write(frame.subarray(0, split));
      await new Promise((resolve) => setTimeout(resolve, 2));
      await client.write(frame.subarray(split));
      expect(await answerTo(client.messages, 1)).toMatchObject({ result: { protocolVersion: PROTOCOL_VERSION } });
      expect(client.messages.filter((message) => message.error)).toEqual([]);
      client.socket.destroy();
    }
  }, 120_000);

  it("reads any stream of requests cut into random pieces, answering each in order", async () => {
    const client = await connect();
    let nextId = 1;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ maxLength: 20, unit: "binary" }), { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 8 }), async (names, cuts) => {
        const ids = names.map(() => nextId++);
        const stream = Buffer.from(ids.map((id, index) => helloFrame(id, names[index]!)).join(""));
        const points = [...new Set(cuts.map((cut) => cut % stream.length))].sort((a, b) => a - b);
        let start = 0;
        for (const point of [...points, stream.length]) {
          if (point <= start) continue;
          await client.write(stream.subarray(start, point));
          start = point;
        }
        for (const id of ids) expect(await answerTo(client.messages, id)).toMatchObject({ result: { protocolVersion: PROTOCOL_VERSION } });
        expect(client.messages.filter((message) => message.error)).toEqual([]);
      }),
      { numRuns: Math.min(runs, 200) },
    );
  }, 120_000);

  it("drops an oversize frame with one error, then serves the frame after it", async () => {
    const client = await connect();
    await client.write(`${"x".repeat(MAX_FRAME_BYTES + 1)}\n${JSON.stringify({ id: 5, method: "ping", params: {} })}\n`);
    expect(await answerTo(client.messages, 5)).toEqual({ id: 5, result: {} });
    expect(client.messages.filter((message) => message.error?.code === "BadFrame")).toHaveLength(1);
    // An oversize frame that never ends, then the peer goes away: nothing is kept, nothing breaks.
    const flood = await connect();
    for (let sent = 0; sent < 3 * MAX_FRAME_BYTES; sent += 1024 * 1024) await flood.write("y".repeat(1024 * 1024));
    flood.socket.destroy();
    const after = await connect();
    await after.write(`${JSON.stringify({ id: 6, method: "ping", params: {} })}\n`);
    expect(await answerTo(after.messages, 6)).toEqual({ id: 6, result: {} });
  }, 60_000);

  it("survives a peer that closes in the middle of a frame, or half-closes after one", async () => {
    for (let cut = 1; cut < 40; cut += 7) {
      const client = await connect();
      await client.write(helloFrame(1, "n1").slice(0, cut));
      client.socket.destroy();
    }
    const half = await connect();
    await half.write(helloFrame(1, "n1"));
    // The agent may answer or not (the socket is closing): it must only not fall over.
    half.socket.end();
    const after = await connect();
    await after.write(`${JSON.stringify({ id: 2, method: "ping", params: {} })}\n`);
    expect(await answerTo(after.messages, 2)).toEqual({ id: 2, result: {} });
  }, 60_000);

  it("refuses path-traversing pod, namespace, volume and file names in syncPods and logs, and still runs the good pod", async () => {
    const client = await connect();
    await client.write(helloFrame(1, "n1"));
    await answerTo(client.messages, 1);
    const container = { name: "main", command: [process.execPath, "-e", "setTimeout(() => {}, 60000)"] };
    const pod = (name: string, spec: Record<string, unknown>, namespace = "default") => ({ uid: `u-${name.replace(/[^a-z0-9]/g, "x")}-${namespace.length}`, namespace, name, spec: { containers: [container], ...spec } });
    const hostile = [
      pod("../../etc", {}),
      pod("a/b", {}),
      pod("ns", {}, "../.."),
      pod("vol", { volumes: [{ name: "../../etc", emptyDir: {} }] }),
      pod("vol-slash", { volumes: [{ name: "a/b", emptyDir: {} }] }),
      pod("item", { volumes: [{ name: "c", configMap: { name: "cm", items: [{ key: "k", path: "../../../etc/passwd" }] } }] }),
      pod("abs", { volumes: [{ name: "s", secret: { secretName: "s", items: [{ key: "k", path: "/etc/shadow" }] } }] }),
      pod("sub", { volumes: [{ name: "v", emptyDir: {} }], containers: [{ ...container, volumeMounts: [{ name: "v", mountPath: "/data", subPath: "x/../../.." }] }] }),
    ];
    await client.write(`${JSON.stringify({ id: 2, method: "syncPods", params: { generation: 1, pods: [...hostile, pod("good", {})] } })}\n`);
    const answer = await answerTo(client.messages, 2);
    const rejected = (answer.result as { rejected: Array<{ index: number; reason: string }> }).rejected;
    expect(rejected.map((rejection) => rejection.index)).toEqual(hostile.map((_, index) => index));
    expect(rejected.map((rejection) => rejection.reason.split(":")[0])).toEqual([
      "name",
      "name",
      "namespace",
      "spec.volumes[0].name",
      "spec.volumes[0].name",
      "spec.volumes[0].configMap.items[0].path",
      "spec.volumes[0].secret.items[0].path",
      "spec.containers[0].volumeMounts[0].subPath",
    ]);
    await client.write(`${JSON.stringify({ id: 3, method: "statuses", params: {} })}\n`);
    const statuses = (await answerTo(client.messages, 3)).result as { pods: Array<{ name: string }> };
    expect(statuses.pods.map((status) => status.name)).toEqual(["good"]);
    // Logs are looked up by pod and container, never by a path built from the request.
    const logRequests = [
      { namespace: "../..", name: "etc" },
      { namespace: "default", name: "../../../etc/passwd" },
      { namespace: "default", name: "good", container: "../../../../etc/passwd" },
      { namespace: "default", name: "good", container: "main/../../../state" },
    ];
    for (const [index, params] of logRequests.entries()) {
      await client.write(`${JSON.stringify({ id: 10 + index, method: "logs", params })}\n`);
      expect(await answerTo(client.messages, 10 + index)).toMatchObject({ error: { code: "NotFound" } });
    }
    await client.write(`${JSON.stringify({ id: 4, method: "syncPods", params: { generation: 2, pods: [] } })}\n`);
    await answerTo(client.messages, 4);
  }, 60_000);
});
