import type { ServiceRoute, SyncServicesResult } from "../protocol.ts";

/**
 * The service proxy of FakeNodeClient's in-memory node: it keeps the routes
 * it was last told and "listens" on each non-headless port and nodePort. A
 * port held by something else (`occupy`) is a listen error, as a port in use
 * is on a real node, and a port the proxy listens on cannot be occupied. No
 * traffic is proxied.
 */
export class FakeServiceProxy {
  readonly #node: string;
  /** The routes applied last, and the ports they listen on. */
  #routes: ServiceRoute[] = [];
  readonly #listening = new Set<number>();
  /** Ports held by something else on the node (occupy). */
  readonly #occupied = new Set<number>();

  constructor(node: string) {
    this.#node = node;
  }

  /** The agent's syncServices: listeners for each port and nodePort (none for headless Services); one that cannot be had is reported, the rest served. */
  apply(services: ServiceRoute[]): SyncServicesResult["listenErrors"] {
    this.#routes = structuredClone(services);
    this.#listening.clear();
    const listenErrors: SyncServicesResult["listenErrors"] = [];
    for (const service of services) {
      if (service.headless) continue;
      for (const port of service.ports) {
        for (const number of [port.port, ...(port.nodePort !== undefined ? [port.nodePort] : [])]) {
          if (this.#occupied.has(number) || this.#listening.has(number)) {
            listenErrors.push({ namespace: service.namespace, name: service.name, port: number, reason: `listen EADDRINUSE: address already in use ${this.#node}:${number}` });
          } else {
            this.#listening.add(number);
          }
        }
      }
    }
    return listenErrors;
  }

  routes(): ServiceRoute[] {
    return structuredClone(this.#routes);
  }

  /** Something else on the node takes `port`: throws EADDRINUSE when the proxy listens on it; the returned function frees it. */
  occupy(port: number): () => Promise<void> {
    if (this.#listening.has(port) || this.#occupied.has(port)) {
      throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${this.#node}:${port}`), { code: "EADDRINUSE" });
    }
    this.#occupied.add(port);
    return async () => {
      this.#occupied.delete(port);
    };
  }
}
