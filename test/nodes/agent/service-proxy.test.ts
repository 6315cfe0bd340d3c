import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { BlockList, connect, createServer, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logging.ts";
import { ServiceProxy, type ProxyListener } from "../../../src/nodes/agent/service-proxy.ts";
import { proxyListenHost, serviceHost, serviceListeners } from "../../../src/nodes/agent/service-routes.ts";
import { NodeServices } from "../../../src/nodes/agent/services.ts";
import { serviceRouteSchema, type ServiceEndpoint } from "../../../src/nodes/protocol.ts";
import { connectionOutcome, exchange, freePort, listen, startEchoBackend, type EchoBackend } from "../../helpers/tcp.ts";

/** The Service proxy with real sockets: backends are echo servers on loopback addresses of their own. */

// The proxy listens here; backends live on other loopback addresses, as pods on other nodes would.
const proxyHost = "127.0.0.51";
const backendHost = "127.0.0.52";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newProxy(options: { connectTimeoutMs?: number; usable?: (endpoint: ServiceEndpoint) => boolean } = {}): ServiceProxy {
  const proxy = new ServiceProxy({ log: silentLogger, ...options });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function backends(count: number): Promise<EchoBackend[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const backend = await startEchoBackend(backendHost, `b${index}`);
      cleanups.push(backend.close);
      return backend;
    }),
  );
}

const endpointOf = (backend: EchoBackend): ServiceEndpoint => ({ address: backend.host, port: backend.port, pod: `shop/${backend.tag}` });

function listener(port: number, endpoints: ServiceEndpoint[], name = "web"): ProxyListener {
  return { host: proxyHost, port, namespace: "shop", name, endpoints };
}

/** Tags of the backends that answered `count` connections made one after another. */
async function tagsOf(port: number, count: number): Promise<string[]> {
  const tags: string[] = [];
  for (let index = 0; index < count; index += 1) tags.push((await exchange(proxyHost, port, "x")).tag);
  return tags;
}

function tally(tags: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const tag of tags) counts[tag] = (counts[tag] ?? 0) + 1;
  return counts;
}

describe("ServiceProxy", () => {
  it("spreads connections round-robin over the endpoints", async () => {
    const proxy = newProxy();
    const [a, b, c] = await backends(3);
    const port = await freePort(proxyHost);
    expect(await proxy.apply([listener(port, [a!, b!, c!].map(endpointOf))])).toEqual([]);
    expect(tally(await tagsOf(port, 9))).toEqual({ b0: 3, b1: 3, b2: 3 });
  });

  it("skips a refusing endpoint and still serves the connection", async () => {
    const proxy = newProxy();
    const [good] = await backends(1);
    const refusing = { address: backendHost, port: await freePort(backendHost) };
    const port = await freePort(proxyHost);
    await proxy.apply([listener(port, [refusing, endpointOf(good!), refusing])]);
    // Every connection is answered, whichever endpoint round-robin picked first.
    expect(await tagsOf(port, 6)).toEqual(Array(6).fill("b0"));
  });

  it("tries the next endpoint when one does not answer within the connect timeout", async () => {
    // A listener whose accept queue is full: the kernel drops further SYNs, so a connect hangs (a dead host, as seen from here).
    const silent = spawn("python3", [
      "-c",
      `import socket,time\ns=socket.socket()\ns.bind(("${backendHost}",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)`,
    ]);
    cleanups.push(async () => void silent.kill("SIGKILL"));
    const silentPort = Number(await new Promise<string>((resolve) => createInterface({ input: silent.stdout }).once("line", resolve)));
    const fillers: Socket[] = [];
    for (let index = 0; index < 3; index += 1) {
      const filler = connect({ host: backendHost, port: silentPort });
      filler.on("error", () => undefined);
      fillers.push(filler);
    }
    cleanups.push(async () => fillers.forEach((filler) => filler.destroy()));
    await new Promise((resolve) => setTimeout(resolve, 200));

    const proxy = newProxy({ connectTimeoutMs: 300 });
    const [good] = await backends(1);
    const port = await freePort(proxyHost);
    await proxy.apply([listener(port, [{ address: backendHost, port: silentPort }, endpointOf(good!)])]);
    const started = performance.now();
    expect((await exchange(proxyHost, port, "late")).tag).toBe("b0");
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("resets the client when no endpoint is left, and at once when there is none", async () => {
    const proxy = newProxy();
    const port = await freePort(proxyHost);
    const refusing = { address: backendHost, port: await freePort(backendHost) };
    await proxy.apply([listener(port, [refusing])]);
    expect(await connectionOutcome(proxyHost, port)).toBe("reset");
    await proxy.apply([listener(port, [])]);
    expect(await connectionOutcome(proxyHost, port)).toBe("reset");
  });

  it("applies an endpoint removal to the very next connection", async () => {
    const proxy = newProxy();
    const [a, b] = await backends(2);
    const port = await freePort(proxyHost);
    await proxy.apply([listener(port, [endpointOf(a!), endpointOf(b!)])]);
    expect(new Set(await tagsOf(port, 2))).toEqual(new Set(["b0", "b1"]));
    await proxy.apply([listener(port, [endpointOf(b!)])]);
    expect(await tagsOf(port, 4)).toEqual(["b1", "b1", "b1", "b1"]);
  });

  it("moves a listener to a changed port and closes a removed one, letting open connections finish", async () => {
    const proxy = newProxy();
    const [a] = await backends(1);
    const [first, second] = [await freePort(proxyHost), await freePort(proxyHost)];
    await proxy.apply([listener(first, [endpointOf(a!)])]);

    // A connection opened on the old port, still in use after the move.
    const open = connect({ host: proxyHost, port: first, allowHalfOpen: true });
    const received: Buffer[] = [];
    open.on("data", (chunk: Buffer) => received.push(chunk));
    await new Promise((resolve) => open.once("connect", resolve));

    await proxy.apply([listener(second, [endpointOf(a!)])]);
    expect(proxy.listening()).toEqual(new Map([[`${proxyHost}:${second}`, "shop/web"]]));
    expect(await connectionOutcome(proxyHost, first)).toBe("refused");
    expect((await exchange(proxyHost, second, "moved")).body.toString()).toBe("moved");

    const ended = new Promise((resolve) => open.once("end", resolve));
    open.end("still here");
    await ended;
    expect(Buffer.concat(received).toString()).toBe("b0\nstill here");

    await proxy.apply([]);
    expect(proxy.listening().size).toBe(0);
    expect(await connectionOutcome(proxyHost, second)).toBe("refused");
  });

  it("reports a port in use instead of throwing, serves the rest, and opens it on a later apply", async () => {
    const proxy = newProxy();
    const [a] = await backends(1);
    const squatter = createServer();
    const taken = await freePort(proxyHost);
    await listen(squatter, proxyHost, taken);
    const free = await freePort(proxyHost);

    const errors = await proxy.apply([listener(taken, [endpointOf(a!)], "blocked"), listener(free, [endpointOf(a!)], "fine")]);
    expect(errors).toEqual([{ namespace: "shop", name: "blocked", port: taken, reason: `${proxyHost}:${taken} is already in use on the node` }]);
    expect((await exchange(proxyHost, free)).tag).toBe("b0");

    await new Promise((resolve) => squatter.close(resolve));
    expect(await proxy.apply([listener(taken, [endpointOf(a!)], "blocked"), listener(free, [endpointOf(a!)], "fine")])).toEqual([]);
    expect((await exchange(proxyHost, taken)).tag).toBe("b0");
  });

  it("passes a large payload through intact, both ways, with half-close", async () => {
    const proxy = newProxy();
    const [a] = await backends(1);
    const port = await freePort(proxyHost);
    await proxy.apply([listener(port, [endpointOf(a!)])]);
    const payload = randomBytes(16 * 1024 * 1024);
    // The client ends its side first; the echo of all 16 MiB still has to come back after that FIN.
    const { tag, body } = await exchange(proxyHost, port, payload);
    expect(tag).toBe("b0");
    expect(body.length).toBe(payload.length);
    expect(createHash("sha256").update(body).digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
  });

  it("listens on the Service port and on its nodePort; a headless Service gets no listener", async () => {
    const proxy = newProxy();
    const [a] = await backends(1);
    const [port, nodePort, headlessPort] = [await freePort(proxyHost), await freePort(proxyHost), await freePort(proxyHost)];
    const routes = [
      serviceRouteSchema.parse({ namespace: "shop", name: "web", ports: [{ name: "http", port, nodePort, endpoints: [endpointOf(a!)] }] }),
      serviceRouteSchema.parse({ namespace: "shop", name: "db", headless: true, ports: [{ port: headlessPort, endpoints: [endpointOf(a!)] }] }),
    ];
    expect(await proxy.apply(serviceListeners(routes, proxyHost))).toEqual([]);
    expect((await exchange(proxyHost, port, "p")).body.toString()).toBe("p");
    expect((await exchange(proxyHost, nodePort, "n")).body.toString()).toBe("n");
    expect(await connectionOutcome(proxyHost, headlessPort)).toBe("refused");
  });

  it("gives a port two Services claim to the first by namespace/name and reports the other", async () => {
    const proxy = newProxy();
    const [a, b] = await backends(2);
    const port = await freePort(proxyHost);
    const routes = [
      serviceRouteSchema.parse({ namespace: "shop", name: "zeta", ports: [{ port, endpoints: [endpointOf(b!)] }] }),
      serviceRouteSchema.parse({ namespace: "shop", name: "alpha", ports: [{ port, endpoints: [endpointOf(a!)] }] }),
    ];
    const errors = await proxy.apply(serviceListeners(routes, proxyHost));
    expect(errors).toEqual([{ namespace: "shop", name: "zeta", port, reason: `port ${port} is already served for shop/alpha` }]);
    expect((await exchange(proxyHost, port)).tag).toBe("b0");
  });
});

describe("NodeServices local fast path", () => {
  it("drops an own pod's endpoint as soon as it turns not ready or starts stopping, not when the control plane catches up", async () => {
    // The own pod listens on the node address; the other endpoint is a pod on another node.
    const [local] = await backends(1);
    const remote = await startEchoBackend("127.0.0.53", "remote");
    cleanups.push(remote.close);
    const remoteTag = "remote";
    const services = new NodeServices({
      log: silentLogger,
      saved: { generation: 0, routes: [] },
      save: async () => undefined,
      nodeAddress: backendHost,
    });
    cleanups.push(() => services.close());
    const port = await freePort(backendHost);
    const route = { namespace: "shop", name: "web", ports: [{ port, endpoints: [endpointOf(local!), endpointOf(remote)] }] };
    await services.sync(1, [route]);
    const through = async (count: number) => {
      const tags: string[] = [];
      for (let index = 0; index < count; index += 1) tags.push((await exchange(backendHost, port)).tag);
      return tags;
    };

    // Starting up (never ready yet): left to the control plane, which listed it.
    services.podStatus("uid-local", "shop/b0", false, [local!.port]);
    expect(new Set(await through(2))).toEqual(new Set(["b0", remoteTag]));
    services.podStatus("uid-local", "shop/b0", true, [local!.port]);
    services.podStatus("uid-local", "shop/b0", false, [local!.port]);
    expect(await through(3)).toEqual([remoteTag, remoteTag, remoteTag]);
    services.podStatus("uid-local", "shop/b0", true, [local!.port]);
    expect(new Set(await through(2))).toEqual(new Set(["b0", remoteTag]));

    services.podStopping("uid-local", "shop/b0", [local!.port]);
    expect(await through(3)).toEqual([remoteTag, remoteTag, remoteTag]);
    // Gone: a new pod may get the port; the control plane's endpoints decide again.
    services.podGone("uid-local");
    expect(new Set(await through(2))).toEqual(new Set(["b0", remoteTag]));
  });
});

describe("proxyListenHost", () => {
  const local = new BlockList();
  local.addSubnet("127.0.0.0", 8, "ipv4");
  local.addAddress("10.0.0.7", "ipv4");
  local.addAddress("fd00::2", "ipv6");
  const cases: [string, string | undefined, string, string][] = [
    ["no hello yet: loopback only", undefined, "127.0.0.1", "127.0.0.1"],
    ["an address of this host", "10.0.0.7", "10.0.0.7", "10.0.0.7"],
    ["any loopback address", "127.0.0.9", "127.0.0.9", "127.0.0.9"],
    ["an IPv6 address of this host", "fd00::2", "fd00::2", "fd00::2"],
    ["an address that is not this host's (NAT)", "203.0.113.5", "0.0.0.0", "127.0.0.1"],
    ["a hostname", "web-1.example.org", "0.0.0.0", "127.0.0.1"],
  ];
  it.each(cases)("%s", (_, nodeAddress, listenHost, podsUse) => {
    expect(proxyListenHost(nodeAddress, local)).toBe(listenHost);
    expect(serviceHost(listenHost)).toBe(podsUse);
  });
});
