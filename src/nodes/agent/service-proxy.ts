import { connect, createServer, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import { systemClock, type Clock } from "../../clock.ts";
import type { ServiceEndpoint } from "../protocol.ts";

/**
 * The node's Service proxy, a userspace kube-proxy: one TCP listener per
 * Service port (and NodePort) on the node address; each accepted connection
 * goes to the next endpoint round-robin and is spliced to it both ways.
 *
 * - A failed connect (refused, reset, unreachable, no answer within
 *   `connectTimeoutMs`) tries the next endpoint, each at most once per
 *   connection; when none is left the client gets a TCP reset.
 * - No endpoint at all: the connection is accepted and reset at once. kube-proxy
 *   rejects (the client sees "connection refused"); closing the listener would
 *   do the same, but would hand the port to whoever binds it next and churn
 *   with every readiness flap, so the port is kept and the client fails as fast.
 * - Endpoint changes apply to the next connection; a removed listener stops
 *   accepting at once, its open connections run to their end.
 * - Half-close is passed through (allowHalfOpen on both sides: a client's FIN
 *   reaches the backend, whose answer still flows back), `pipe` gives
 *   backpressure, and no socket error reaches the agent's event loop uncaught.
 */

/** A listener the proxy should hold. */
export interface ProxyListener {
  host: string;
  port: number;
  namespace: string;
  name: string;
  endpoints: readonly ServiceEndpoint[];
}

export interface ListenError {
  namespace: string;
  name: string;
  port: number;
  reason: string;
}

export interface ServiceProxyOptions {
  log: Logger;
  /** Times the connect timeout. */
  clock?: Clock;
  /** How long a backend may take to accept before the next one is tried; default 1 s. */
  connectTimeoutMs?: number;
  /** False for an endpoint the agent knows is going away (its own pod not ready or stopping): new connections skip it. */
  usable?: (endpoint: ServiceEndpoint) => boolean;
}

interface Listener {
  readonly server: Server;
  spec: ProxyListener;
  /** The endpoints new connections may use; replaced, never mutated, so a connection in progress keeps its snapshot. */
  usable: readonly ServiceEndpoint[];
  next: number;
}

export const defaultConnectTimeoutMs = 1_000;

export class ServiceProxy {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #connectTimeoutMs: number;
  readonly #usable: (endpoint: ServiceEndpoint) => boolean;
  readonly #listeners = new Map<string, Listener>();
  readonly #sockets = new Set<Socket>();
  #applying: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ServiceProxyOptions) {
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs;
    this.#usable = options.usable ?? (() => true);
  }

  /**
   * Makes the listeners exactly `wanted`: new ones opened, removed ones
   * closed, kept ones given their new endpoints. A listener that cannot be
   * opened is reported, not thrown, and tried again by the next apply.
   */
  apply(wanted: readonly ProxyListener[]): Promise<ListenError[]> {
    const run = this.#applying.then(() => this.#apply(wanted));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  /** Re-reads `usable` for every listener (the agent's own pods changed readiness). */
  refilter(): void {
    for (const listener of this.#listeners.values()) listener.usable = listener.spec.endpoints.filter(this.#usable);
  }

  /** What is listening now: `host:port` → `<namespace>/<name>`. */
  listening(): Map<string, string> {
    return new Map([...this.#listeners].map(([key, listener]) => [key, `${listener.spec.namespace}/${listener.spec.name}`]));
  }

  /** Closes every listener and every connection (the agent is going away). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#applying;
    const closing = [...this.#listeners.values()].map((listener) => new Promise<void>((resolve) => listener.server.close(() => resolve())));
    this.#listeners.clear();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(closing);
  }

  async #apply(wanted: readonly ProxyListener[]): Promise<ListenError[]> {
    if (this.#closed) return [];
    const errors: ListenError[] = [];
    const byKey = new Map<string, ProxyListener>();
    for (const spec of wanted) {
      const key = listenerKey(spec);
      const holder = byKey.get(key);
      if (holder) {
        errors.push({ namespace: spec.namespace, name: spec.name, port: spec.port, reason: `port ${spec.port} is already served for ${holder.namespace}/${holder.name}` });
        continue;
      }
      byKey.set(key, spec);
    }
    for (const [key, listener] of this.#listeners) {
      if (byKey.has(key)) continue;
      // Stops accepting now; connections already spliced run until either side ends them.
      listener.server.close();
      this.#listeners.delete(key);
    }
    await Promise.all(
      [...byKey].map(async ([key, spec]) => {
        const existing = this.#listeners.get(key);
        if (existing) {
          existing.spec = spec;
          existing.usable = spec.endpoints.filter(this.#usable);
          return;
        }
        try {
          this.#listeners.set(key, await this.#open(spec));
        } catch (error) {
          const reason = listenFailure(error, spec);
          this.#log.warn({ service: `${spec.namespace}/${spec.name}`, port: spec.port, reason }, "a Service listener could not be opened");
          errors.push({ namespace: spec.namespace, name: spec.name, port: spec.port, reason });
        }
      }),
    );
    return errors;
  }

  async #open(spec: ProxyListener): Promise<Listener> {
    // pauseOnConnect: nothing is read from the client until a backend is connected; the kernel holds what it sends.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const listener: Listener = { server, spec, usable: spec.endpoints.filter(this.#usable), next: 0 };
    server.on("connection", (client) => this.#accept(listener, client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: spec.host, port: spec.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error) => this.#log.warn({ err: error, service: `${listener.spec.namespace}/${listener.spec.name}` }, "Service listener error"));
    return listener;
  }

  #accept(listener: Listener, client: Socket): void {
    this.#track(client);
    client.on("error", (error) => this.#log.debug({ err: error }, "Service client connection error"));
    const candidates = listener.usable;
    if (candidates.length === 0) {
      client.resetAndDestroy();
      return;
    }
    const start = listener.next % candidates.length;
    listener.next = (start + 1) % candidates.length;
    client.setNoDelay(true);
    this.#tryEndpoint(client, candidates, start, 0);
  }

  /** Connects to candidate `start + attempt`; on failure, to the one after, until each was tried once. */
  #tryEndpoint(client: Socket, candidates: readonly ServiceEndpoint[], start: number, attempt: number): void {
    if (client.destroyed) return;
    if (attempt >= candidates.length) {
      client.resetAndDestroy();
      return;
    }
    const endpoint = candidates[(start + attempt) % candidates.length]!;
    const backend = connect({ host: endpoint.address, port: endpoint.port, allowHalfOpen: true, noDelay: true });
    this.#track(backend);
    const connected = new AbortController();
    void this.#clock.sleep(this.#connectTimeoutMs, connected.signal).then(() => {
      if (!connected.signal.aborted) backend.destroy(new Error(`no answer within ${this.#connectTimeoutMs} ms`));
    });
    const clientGone = (): void => {
      connected.abort();
      backend.destroy();
    };
    const failed = (error: Error): void => {
      connected.abort();
      client.off("close", clientGone);
      backend.destroy();
      this.#log.debug({ err: error, endpoint: `${endpoint.address}:${endpoint.port}`, pod: endpoint.pod }, "Service endpoint failed; trying the next");
      this.#tryEndpoint(client, candidates, start, attempt + 1);
    };
    client.once("close", clientGone);
    backend.once("error", failed);
    backend.once("connect", () => {
      connected.abort();
      client.off("close", clientGone);
      backend.off("error", failed);
      splice(client, backend, this.#log);
    });
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
  }
}

/**
 * Both directions piped with backpressure. An end (FIN) on one side ends the
 * other's writing side only; each socket closes once both of its directions
 * are done. An error (a reset) on either side resets the other.
 */
function splice(client: Socket, backend: Socket, log: Logger): void {
  backend.on("error", (error) => log.debug({ err: error }, "Service backend connection error"));
  client.on("close", (hadError) => {
    if (hadError) backend.destroy();
  });
  backend.on("close", (hadError) => {
    if (hadError && !client.destroyed) client.resetAndDestroy();
  });
  client.pipe(backend);
  backend.pipe(client);
}

function listenerKey(spec: { host: string; port: number }): string {
  return `${spec.host}:${spec.port}`;
}

function listenFailure(error: unknown, spec: ProxyListener): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return `${spec.host}:${spec.port} is already in use on the node`;
  if (code === "EACCES") return `${spec.host}:${spec.port} needs privileges the agent does not have (a port below 1024)`;
  if (code === "EADDRNOTAVAIL") return `${spec.host} is not an address of this node`;
  return `${spec.host}:${spec.port}: ${(error as Error).message}`;
}
