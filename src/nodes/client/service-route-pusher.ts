import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { canonicalJson, type DesiredStore } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import type { ServiceRoute, SyncServicesResult } from "../protocol.ts";
import type { NodeClient } from "./node-client.ts";

export interface ServiceRoutePusherOptions {
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  /** How long `push` waits for the nodes' answers before letting the caller go on (default 2 s). */
  answerWaitMs?: number;
}

/**
 * The NodeManager's companion for Services: sends the route set to every
 * node whose last one differs, and reports what the agents could not listen
 * on (a warning log with the node, and a Warning event on the Service).
 *
 * `push` waits, bounded, for the answers: the NodeManager stops pods only
 * after the proxies have been told to stop sending them connections.
 */
export class ServiceRoutePusher {
  readonly #options: ServiceRoutePusherOptions;
  /** Per node: the canonical JSON of the set last handed to its client (the client resends it after a reconnect). */
  readonly #sent = new Map<string, string>();

  constructor(options: ServiceRoutePusherOptions) {
    this.#options = options;
  }

  async push(clients: readonly NodeClient[], routes: ServiceRoute[]): Promise<void> {
    const key = canonicalJson(routes);
    const sends: Promise<void>[] = [];
    for (const client of clients) {
      if (this.#sent.get(client.node) === key) continue;
      this.#sent.set(client.node, key);
      sends.push(
        client.syncServices(routes).then(
          (result) => this.#report(client.node, result),
          // Delivered on reconnect; the link state already says why it is down.
          () => undefined,
        ),
      );
    }
    if (sends.length === 0) return;
    const bound = new AbortController();
    await Promise.race([Promise.all(sends), this.#options.clock.sleep(this.#options.answerWaitMs ?? 2_000, bound.signal)]);
    bound.abort();
  }

  /** The next push sends to this node again (it reconnected: the answer to the client's own resend is not reported). */
  forget(node: string): void {
    this.#sent.delete(node);
  }

  async #report(node: string, result: SyncServicesResult): Promise<void> {
    for (const error of result.listenErrors) {
      this.#options.log.warn({ node, service: `${error.namespace}/${error.name}`, port: error.port, reason: error.reason }, "a node could not listen for a Service");
      try {
        await this.#options.store.recordEvent({
          kind: "Service",
          namespace: error.namespace,
          name: error.name,
          type: "Warning",
          reason: "ListenFailed",
          message: `node ${node} cannot listen on port ${error.port}: ${error.reason}`,
          source: "service-proxy",
          at: this.#options.clock.now(),
        });
      } catch (recordError) {
        this.#options.log.warn({ node, err: messageOf(recordError) }, "could not record a listen error");
      }
    }
  }
}
