import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/clock.ts";
import { runHook } from "../../../src/nodes/agent/hooks.ts";
import { probeDelayMs, ProbeState, resolvePort, runProbe, type ProbeResult, type ProbeTarget } from "../../../src/nodes/agent/probes.ts";
import { createProcessRuntime } from "../../../src/nodes/agent/runtime/process.ts";
import type { ContainerHandle } from "../../../src/nodes/agent/runtime/types.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";

/** Probes and hooks against real servers and a real process container. */

let dir: string;
let container: ContainerHandle;
const servers: (Server | HttpServer)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "capstan-probes-"));
  container = await createProcessRuntime().start({
    id: "probe-test.main",
    agentId: `probes-test-${process.pid}`,
    podUid: "probe-test",
    namespace: "default",
    podName: "probe-test",
    containerName: "main",
    argv: ["sleep", "60"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", GREETING: "hello" },
    workingDir: dir,
    mounts: [],
    ports: [],
    logPath: join(dir, "main.log"),
  });
});

afterAll(async () => {
  await container?.stop(0);
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    (server as HttpServer).closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function listen<T extends Server | HttpServer>(server: T): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** An HTTP server answering each path with the status the path names: /200, /302, /500. */
function statusServer(): HttpServer {
  return createHttpServer((request, response) => {
    if (request.url === "/hang") return; // never answers
    response.statusCode = Number(request.url?.slice(1)) || 200;
    response.end(`body of ${request.url}`);
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function target(overrides: Partial<ProbeTarget> = {}): ProbeTarget {
  return { host: "127.0.0.1", hostPorts: {}, containerName: "main", handle: container, ...overrides };
}

const http = (port: number | string, path = "/", scheme: "HTTP" | "HTTPS" = "HTTP") => ({ httpGet: { port, path, scheme } });

describe("runProbe httpGet", () => {
  it("counts 200-399 as success and anything else as failure, with the status in the message", async () => {
    const port = await listen(statusServer());
    expect(await runProbe(http(port, "/200"), target(), 1000)).toEqual({ ok: true, message: "body of /200" });
    expect((await runProbe(http(port, "/302"), target(), 1000)).ok).toBe(true);
    expect((await runProbe(http(port, "/399"), target(), 1000)).ok).toBe(true);
    const failed = await runProbe(http(port, "/500"), target(), 1000);
    expect(failed.ok).toBe(false);
    expect(failed.message).toContain("statuscode: 500");
    expect((await runProbe(http(port, "/404"), target(), 1000)).ok).toBe(false);
  });

  it("reaches a named port and a declared container port through their host ports", async () => {
    const port = await listen(statusServer());
    const ports = [{ name: "web", containerPort: 8080, protocol: "TCP" as const }, { containerPort: 9090, protocol: "TCP" as const }];
    const hostPorts = { "main/web": port, "main/9090": port, "other/web": 1 };
    expect((await runProbe(http("web"), target({ hostPorts, ports }), 1000)).ok).toBe(true);
    expect((await runProbe(http(8080), target({ hostPorts, ports }), 1000)).ok).toBe(true);
    expect((await runProbe(http(9090), target({ hostPorts, ports }), 1000)).ok).toBe(true);
    // A number the container does not declare is used as it is.
    expect((await runProbe(http(port), target({ hostPorts, ports }), 1000)).ok).toBe(true);
  });

  it("fails when nothing listens, and on a timeout within the bound", async () => {
    const refused = await runProbe(http(await closedPort()), target(), 1000);
    expect(refused.ok).toBe(false);
    expect(refused.message).toContain("ECONNREFUSED");

    const port = await listen(statusServer());
    const started = Date.now();
    const hung = await runProbe(http(port, "/hang"), target(), 300);
    expect(hung.ok).toBe(false);
    expect(hung.message).toContain("timed out");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("accepts a self-signed certificate over HTTPS, as the kubelet does", async () => {
    const keyPath = join(dir, "key.pem");
    const certPath = join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=localhost"], {
      stdio: "ignore",
    });
    const server = createHttpsServer({ key: await readFile(keyPath), cert: await readFile(certPath) }, (_request, response) => response.end("secure"));
    const port = await listen(server);
    expect(await runProbe(http(port, "/", "HTTPS"), target(), 2000)).toEqual({ ok: true, message: "secure" });
    // Plain HTTP to a TLS port is not a success.
    expect((await runProbe(http(port, "/", "HTTP"), target(), 2000)).ok).toBe(false);
  });
});

describe("runProbe tcpSocket and exec", () => {
  it("succeeds when a connection opens, fails when refused", async () => {
    const port = await listen(createTcpServer((socket) => socket.end()));
    expect(await runProbe({ tcpSocket: { port } }, target(), 1000)).toEqual({ ok: true });
    const refused = await runProbe({ tcpSocket: { port: await closedPort() } }, target(), 1000);
    expect(refused.ok).toBe(false);
    expect(refused.message).toMatch(/dial tcp 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });

  it("runs the command in the container: exit 0 succeeds, anything else fails with its output", async () => {
    expect(await runProbe({ exec: { command: ["sh", "-c", "echo $GREETING; pwd"] } }, target(), 2000)).toEqual({
      ok: true,
      message: `hello\n${dir}`,
    });
    const failed = await runProbe({ exec: { command: ["sh", "-c", "echo broken >&2; exit 3"] } }, target(), 2000);
    expect(failed.ok).toBe(false);
    expect(failed.message).toContain("exited with 3");
    expect(failed.message).toContain("broken");
    const missing = await runProbe({ exec: { command: ["no-such-command-xyz"] } }, target(), 2000);
    expect(missing.ok).toBe(false);
  });

  it("fails an exec that outlives its timeout", async () => {
    const started = Date.now();
    const slow = await runProbe({ exec: { command: ["sleep", "5"] } }, target(), 200);
    expect(slow.ok).toBe(false);
    expect(slow.message).toContain("timed out");
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("resolvePort", () => {
  const ports = [{ name: "web", containerPort: 80, protocol: "TCP" as const }, { containerPort: 81, protocol: "TCP" as const, hostPort: 8081 }];
  const hostPorts = { "main/web": 30001 };
  it.each([
    ["web", 30001],
    [80, 30001],
    [81, 8081],
    [82, 82],
  ] as const)("%s → %s", (port, expected) => {
    expect(resolvePort(port, { hostPorts, containerName: "main", ports })).toBe(expected);
  });

  it("names a missing named port", () => {
    expect(() => resolvePort("admin", { hostPorts, containerName: "main", ports })).toThrow(/no port named "admin"/);
  });
});

describe("ProbeState", () => {
  // Each case: thresholds, initial result, outcomes observed, the result after each.
  const cases: [string, { successThreshold: number; failureThreshold: number }, ProbeResult, boolean[], ProbeResult[]][] = [
    ["readiness 1/3: one success is ready", { successThreshold: 1, failureThreshold: 3 }, "failure", [true], ["success"]],
    [
      "readiness 1/3: three failures in a row to become unready",
      { successThreshold: 1, failureThreshold: 3 },
      "success",
      [false, false, true, false, false, false],
      ["success", "success", "success", "success", "success", "failure"],
    ],
    [
      "readiness 2/1: two successes in a row to become ready",
      { successThreshold: 2, failureThreshold: 1 },
      "failure",
      [true, false, true, true, false],
      ["failure", "failure", "failure", "success", "failure"],
    ],
    ["liveness 1/2", { successThreshold: 1, failureThreshold: 2 }, "success", [false, true, false, false], ["success", "success", "success", "failure"]],
    ["startup 1/1", { successThreshold: 1, failureThreshold: 1 }, "unknown", [false], ["failure"]],
    ["startup stays unknown below the threshold", { successThreshold: 1, failureThreshold: 3 }, "unknown", [false, false], ["unknown", "unknown"]],
  ];
  it.each(cases)("%s", (_name, thresholds, initial, outcomes, expected) => {
    const state = new ProbeState(thresholds, initial);
    expect(outcomes.map((ok) => (state.observe(ok), state.result))).toEqual(expected);
  });

  it("reports whether the result changed", () => {
    const state = new ProbeState({ successThreshold: 1, failureThreshold: 1 }, "failure");
    expect([state.observe(false), state.observe(true), state.observe(true), state.observe(false)]).toEqual([false, true, false, true]);
  });
});

describe("probeDelayMs", () => {
  it.each([
    [{ initialDelaySeconds: 0, periodSeconds: 10 }, { first: true, runningForMs: 0 }, 0],
    [{ initialDelaySeconds: 5, periodSeconds: 10 }, { first: true, runningForMs: 0 }, 5000],
    [{ initialDelaySeconds: 5, periodSeconds: 10 }, { first: true, runningForMs: 2000 }, 3000],
    [{ initialDelaySeconds: 5, periodSeconds: 10 }, { first: true, runningForMs: 60_000 }, 0],
    [{ initialDelaySeconds: 5, periodSeconds: 10 }, { first: false, runningForMs: 60_000 }, 10_000],
  ])("%o at %o → %i ms", (probe, at, expected) => {
    expect(probeDelayMs(probe, at)).toBe(expected);
  });
});

describe("runHook", () => {
  it("runs exec in the container", async () => {
    const outcome = await runHook({ exec: { command: ["sh", "-c", "echo ran > hook.txt"] } }, target(), 2000, systemClock);
    expect(outcome.ok).toBe(true);
    expect(await readFile(join(dir, "hook.txt"), "utf8")).toBe("ran\n");
    expect((await runHook({ exec: { command: ["false"] } }, target(), 2000, systemClock)).ok).toBe(false);
  });

  it("sleeps on the injected clock, bounded by the timeout", async () => {
    const clock = new ManualClock();
    let done = false;
    const sleeping = runHook({ sleep: { seconds: 30 } }, target(), 60_000, clock).then((outcome) => {
      done = true;
      return outcome;
    });
    await clock.advance(29_000);
    expect(done).toBe(false);
    await clock.advance(1000);
    expect(await sleeping).toEqual({ ok: true });

    const bounded = runHook({ sleep: { seconds: 30 } }, target(), 2000, clock);
    await clock.advance(2000);
    expect(await bounded).toEqual({ ok: true });
  });

  it("fails an HTTP hook only when the request fails, whatever the status (kubelet)", async () => {
    const port = await listen(statusServer());
    expect((await runHook({ httpGet: { port, path: "/500", scheme: "HTTP" } }, target(), 1000, systemClock)).ok).toBe(true);
    const refused = await runHook({ httpGet: { port: await closedPort(), path: "/", scheme: "HTTP" } }, target(), 1000, systemClock);
    expect(refused.ok).toBe(false);
  });
});
