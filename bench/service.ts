/**
 * The Service proxy's cost: a TCP echo backend (its own process) measured
 * directly and through a real capstan-agent's proxy (its own process, given
 * the Service by `syncServices` over its socket), in one run:
 * - keep-alive: one connection, sequential 64-byte request/answer pairs
 *   (p50/p99), then 16 connections at once for requests/s;
 * - a new connection per request: the same, connecting each time.
 * Each figure is the better of two interleaved rounds (the machine is shared).
 * Goals: the proxy adds ≤ 0.3 ms to the keep-alive p99 and keeps ≥ 80 % of the
 * direct keep-alive throughput. Prints one JSON line.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, createConnection, type Socket } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PROTOCOL_VERSION } from "../src/nodes/protocol.ts";
import { agentStateDir } from "../test/helpers/agent.ts";
import { freePort } from "../test/helpers/tcp.ts";

const host = "127.0.0.61";
const latencyRequests = Number(process.env.BENCH_LATENCY_REQUESTS ?? 5_000);
const throughputMs = Number(process.env.BENCH_THROUGHPUT_MS ?? 2_000);
const concurrency = 16;
const message = Buffer.alloc(64, "x");

const here = dirname(fileURLToPath(import.meta.url));
const { stateDir, cleanup } = await agentStateDir();
const backend = spawn(process.execPath, [
  "-e",
  `require("net").createServer((s) => { s.setNoDelay(true); s.on("error", () => {}); s.pipe(s); }).listen(0, "${host}", function () { console.log(this.address().port); })`,
]);
const agent = spawn(process.execPath, [join(here, "..", "bin", "capstan-agent.js"), "serve", "--state-dir", stateDir], { stdio: "ignore" });
try {
  const backendPort = Number(await new Promise<string>((resolve) => createInterface({ input: backend.stdout }).once("line", resolve)));
  const servicePort = await freePort(host);
  const control = await agentSocket(join(stateDir, "agent.sock"));
  await control.request("hello", { protocolVersion: PROTOCOL_VERSION, node: { name: "bench", address: host } });
  const synced = (await control.request("syncServices", {
    generation: 1,
    services: [{ namespace: "bench", name: "echo", ports: [{ port: servicePort, endpoints: [{ address: host, port: backendPort }] }] }],
  })) as { listenErrors: unknown[] };
  if (synced.listenErrors.length > 0) throw new Error(`the proxy could not listen: ${JSON.stringify(synced.listenErrors)}`);

  // Warm up both paths (JIT, connection setup in the agent).
  await keepAliveLatency(backendPort, 500);
  await keepAliveLatency(servicePort, 500);

  // CPU time per keep-alive request of the proxy (the agent process) and of the echo backend, through the proxy.
  const cpuPerRequest = { proxyUs: [] as number[], backendUs: [] as number[] };
  const rounds: Record<string, Figures[]> = { directKeepAlive: [], proxiedKeepAlive: [], directNewConnection: [], proxiedNewConnection: [] };
  for (let round = 0; round < 2; round += 1) {
    for (const [name, port] of [["direct", backendPort], ["proxied", servicePort]] as const) {
      const latency = await keepAliveLatency(port, latencyRequests);
      const cpuBefore = [cpuMs(agent.pid!), cpuMs(backend.pid!)] as const;
      const { requestsPerSecond, requests } = await throughput(port, true);
      if (name === "proxied") {
        cpuPerRequest.proxyUs.push(((cpuMs(agent.pid!) - cpuBefore[0]) * 1000) / requests);
        cpuPerRequest.backendUs.push(((cpuMs(backend.pid!) - cpuBefore[1]) * 1000) / requests);
      }
      rounds[`${name}KeepAlive`]!.push({ ...latency, requestsPerSecond });
      rounds[`${name}NewConnection`]!.push({ ...(await newConnectionLatency(port, latencyRequests / 5)), requestsPerSecond: (await throughput(port, false)).requestsPerSecond });
    }
  }
  const best = {
    directKeepAlive: bestOf(rounds.directKeepAlive!),
    proxiedKeepAlive: bestOf(rounds.proxiedKeepAlive!),
    directNewConnection: bestOf(rounds.directNewConnection!),
    proxiedNewConnection: bestOf(rounds.proxiedNewConnection!),
  };
  const addedP99Ms = round2(best.proxiedKeepAlive.p99Ms - best.directKeepAlive.p99Ms);
  const throughputRatio = round2(best.proxiedKeepAlive.requestsPerSecond / best.directKeepAlive.requestsPerSecond);
  control.close();
  process.stdout.write(
    `${JSON.stringify({
      bench: "service",
      messageBytes: message.length,
      concurrency,
      ...best,
      addedP99Ms,
      throughputRatio,
      newConnectionAddedP99Ms: round2(best.proxiedNewConnection.p99Ms - best.directNewConnection.p99Ms),
      newConnectionThroughputRatio: round2(best.proxiedNewConnection.requestsPerSecond / best.directNewConnection.requestsPerSecond),
      proxyCpuUsPerRequest: round2(Math.min(...cpuPerRequest.proxyUs)),
      backendCpuUsPerRequest: round2(Math.min(...cpuPerRequest.backendUs)),
      cpus: availableParallelism(),
      loadAverage1m: round2(loadavg()[0]!),
      goals: { addedP99Ms: 0.3, throughputRatio: 0.8 },
      goalsMet: { addedP99Ms: addedP99Ms <= 0.3, throughputRatio: throughputRatio >= 0.8 },
    })}\n`,
  );
} finally {
  backend.kill("SIGKILL");
  agent.kill("SIGTERM");
  await new Promise((resolve) => agent.once("exit", resolve));
  await cleanup();
}

interface Figures {
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
}

/** Lowest latencies and highest throughput of the rounds: the figures least disturbed by the machine's other work. */
function bestOf(figures: Figures[]): Figures {
  return {
    p50Ms: round2(Math.min(...figures.map((figure) => figure.p50Ms))),
    p99Ms: round2(Math.min(...figures.map((figure) => figure.p99Ms))),
    requestsPerSecond: Math.round(Math.max(...figures.map((figure) => figure.requestsPerSecond))),
  };
}

async function keepAliveLatency(port: number, count: number): Promise<Omit<Figures, "requestsPerSecond">> {
  const socket = await open(port);
  const samples: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const started = performance.now();
    await roundTrip(socket);
    samples.push(performance.now() - started);
  }
  socket.destroy();
  return percentiles(samples);
}

async function newConnectionLatency(port: number, count: number): Promise<Omit<Figures, "requestsPerSecond">> {
  const samples: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const started = performance.now();
    const socket = await open(port);
    await roundTrip(socket);
    socket.destroy();
    samples.push(performance.now() - started);
  }
  return percentiles(samples);
}

/** Requests per second with `concurrency` clients for `throughputMs`. */
async function throughput(port: number, keepAlive: boolean): Promise<{ requestsPerSecond: number; requests: number }> {
  const deadline = performance.now() + throughputMs;
  let completed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      let socket = keepAlive ? await open(port) : undefined;
      while (performance.now() < deadline) {
        const connection = socket ?? (await open(port));
        await roundTrip(connection);
        if (!keepAlive) connection.destroy();
        completed += 1;
      }
      socket?.destroy();
      socket = undefined;
    }),
  );
  return { requestsPerSecond: completed / ((performance.now() - started) / 1000), requests: completed };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Writes the message and waits for all of it to come back. */
function roundTrip(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received < message.length) return;
      socket.off("data", onData);
      socket.off("error", reject);
      resolve();
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(message);
  });
}

function percentiles(samples: number[]): Omit<Figures, "requestsPerSecond"> {
  samples.sort((a, b) => a - b);
  return { p50Ms: samples[Math.floor(samples.length * 0.5)]!, p99Ms: samples[Math.floor(samples.length * 0.99)]! };
}

/** User + system CPU time a process has used, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** The agent's socket once it answers, spoken raw: NDJSON requests matched to answers by id. */
async function agentSocket(path: string): Promise<{ request(method: string, params: unknown): Promise<unknown>; close(): void }> {
  const deadline = Date.now() + 30_000;
  let socket: Socket | undefined;
  while (!socket) {
    socket = await new Promise<Socket | undefined>((resolve) => {
      const attempt = createConnection(path);
      attempt.once("connect", () => resolve(attempt));
      attempt.once("error", () => resolve(undefined));
    });
    if (!socket) {
      if (Date.now() > deadline) throw new Error("the agent did not start listening within 30 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const connected = socket;
  const waiting = new Map<number, (answer: { result?: unknown; error?: { message: string } }) => void>();
  createInterface({ input: connected }).on("line", (line) => {
    const answer = JSON.parse(line) as { id?: number; result?: unknown; error?: { message: string } };
    if (typeof answer.id === "number") waiting.get(answer.id)?.(answer);
  });
  let nextId = 1;
  return {
    request: (method, params) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, (answer) => (answer.error ? reject(new Error(`${method}: ${answer.error.message}`)) : resolve(answer.result)));
        connected.write(`${JSON.stringify({ id, method, params })}\n`);
      }),
    close: () => connected.destroy(),
  };
}
