import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { z } from "zod";
import { formatFieldPath } from "../../desired/index.ts";
import { serviceRouteSchema, type ServiceEndpoint, type ServiceRoute, type SyncServicesResult } from "../protocol.ts";
import { ServiceProxy, type ListenError } from "./service-proxy.ts";
import { proxyListenHost, serviceEnvironment, serviceHost, serviceListeners } from "./service-routes.ts";

/**
 * The agent's Services: the route set the control plane sent last (newest
 * generation wins, persisted with the pods so a restarted agent serves them
 * again on its own), the proxy that serves it, and the local fast path.
 *
 * Local fast path: the control plane learns that a pod stopped being ready
 * from this agent, then sends new endpoints; until then the proxy would keep
 * sending connections to a pod that refuses them or is shutting down. The
 * agent knows first, so an endpoint that is one of its own pods (this node's
 * address, one of the pod's host ports, and the pod's name when the endpoint
 * carries one) is skipped as soon as that pod turns not ready after having
 * been ready, or is being stopped (before preStop and SIGTERM). Pods never
 * seen ready by this agent process are left to the control plane: after an
 * agent restart every pod starts "not ready" until its probes pass again, and
 * vetoing them would cut a healthy Service off.
 */

export const savedServicesSchema = z.strictObject({
  generation: z.number().int().nonnegative(),
  routes: z.array(serviceRouteSchema),
});
export type SavedServices = z.infer<typeof savedServicesSchema>;

export interface NodeServicesOptions {
  log: Logger;
  saved: SavedServices;
  /** Makes the applied set durable (the agent's state file). A failure is reported by the agent, and the set is served anyway. */
  save(saved: SavedServices): Promise<void>;
  nodeAddress: string | undefined;
  clock?: Clock;
  connectTimeoutMs?: number;
}

/** A route set that cannot be applied as sent; the message names the Service. */
export class ServiceRouteError extends Error {
  override name = "ServiceRouteError";
}

interface LocalPod {
  podKey: string;
  hostPorts: number[];
  wasReady: boolean;
  ready: boolean;
  stopping: boolean;
}

export class NodeServices {
  readonly #options: NodeServicesOptions;
  readonly #proxy: ServiceProxy;
  #saved: SavedServices;
  #nodeAddress: string | undefined;
  #listenHost: string;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #localPods = new Map<string, LocalPod>();
  /** Host port → `<namespace>/<name>` of this node's pods whose endpoints are skipped. */
  #vetoed = new Map<number, string>();

  constructor(options: NodeServicesOptions) {
    this.#options = options;
    this.#saved = options.saved;
    this.#nodeAddress = options.nodeAddress;
    this.#listenHost = proxyListenHost(options.nodeAddress);
    this.#proxy = new ServiceProxy({
      log: options.log,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      usable: (endpoint) => this.#usable(endpoint),
    });
  }

  get generation(): number {
    return this.#saved.generation;
  }

  /** Serves the saved routes (an agent starting up); listen failures are logged and retried by the next sync. */
  start(): Promise<ListenError[]> {
    return this.#serialized(() => this.#apply());
  }

  /** Level-triggered: the whole route set of the node. Older generations change nothing (`stale`). */
  sync(generation: number, input: readonly unknown[]): Promise<SyncServicesResult> {
    return this.#serialized(async () => {
      if (generation < this.#saved.generation) return { generation: this.#saved.generation, listenErrors: [], stale: true };
      const routes = parseRoutes(input);
      this.#saved = { generation, routes };
      // Written before serving, like pods; a failed write is the agent's stateError, and the routes are served anyway.
      await this.#options.save(this.#saved).catch(() => undefined);
      return { generation, listenErrors: await this.#apply() };
    });
  }

  /** The node address from `hello`: a new one moves every listener. */
  setNodeAddress(address: string): void {
    if (address === this.#nodeAddress) return;
    this.#nodeAddress = address;
    const host = proxyListenHost(address);
    if (host === this.#listenHost) return;
    this.#listenHost = host;
    void this.#serialized(() => this.#apply());
  }

  /** The discovery variables for a container of `namespace` starting now. */
  environment(namespace: string): Record<string, string> {
    return serviceEnvironment(this.#saved.routes, namespace, serviceHost(this.#listenHost));
  }

  /** A pod of this node changed: its readiness decides whether its endpoints are served by this node's proxy. */
  podStatus(uid: string, podKey: string, ready: boolean, hostPorts: readonly number[]): void {
    const previous = this.#localPods.get(uid);
    this.#localPods.set(uid, {
      podKey,
      hostPorts: [...hostPorts],
      ready,
      wasReady: (previous?.wasReady ?? false) || ready,
      stopping: previous?.stopping ?? false,
    });
    this.#revet();
  }

  /** A pod of this node is being stopped: its endpoints are dropped now, before its preStop hook and SIGTERM. */
  podStopping(uid: string, podKey: string, hostPorts: readonly number[]): void {
    const previous = this.#localPods.get(uid);
    this.#localPods.set(uid, { podKey, hostPorts: [...hostPorts], ready: false, wasReady: previous?.wasReady ?? false, stopping: true });
    this.#revet();
  }

  /** The pod's processes are gone (and its host ports free for other pods). */
  podGone(uid: string): void {
    if (this.#localPods.delete(uid)) this.#revet();
  }

  /** Closes every listener and connection; the saved routes stay for the next start. */
  async close(): Promise<void> {
    await this.#chain;
    await this.#proxy.close();
  }

  /** `host:port` → `<namespace>/<name>` of the listeners open now. */
  listening(): Map<string, string> {
    return this.#proxy.listening();
  }

  #apply(): Promise<ListenError[]> {
    return this.#proxy.apply(serviceListeners(this.#saved.routes, this.#listenHost));
  }

  #serialized<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(step);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #revet(): void {
    const vetoed = new Map<number, string>();
    for (const pod of this.#localPods.values()) {
      if (!pod.stopping && (pod.ready || !pod.wasReady)) continue;
      for (const port of pod.hostPorts) vetoed.set(port, pod.podKey);
    }
    if (sameEntries(vetoed, this.#vetoed)) return;
    this.#vetoed = vetoed;
    this.#proxy.refilter();
  }

  #usable(endpoint: ServiceEndpoint): boolean {
    if (this.#vetoed.size === 0) return true;
    if (endpoint.address !== this.#nodeAddress && endpoint.address !== this.#listenHost) return true;
    const podKey = this.#vetoed.get(endpoint.port);
    return podKey === undefined || (endpoint.pod !== undefined && endpoint.pod !== podKey);
  }
}

/** Each route checked with the protocol schema; a bad one fails the whole set with the Service's name and the field. */
export function parseRoutes(input: readonly unknown[]): ServiceRoute[] {
  const routes: ServiceRoute[] = [];
  const seen = new Set<string>();
  input.forEach((raw, index) => {
    const parsed = serviceRouteSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = formatFieldPath(issue.path as (string | number)[]);
      throw new ServiceRouteError(`${describeRoute(raw, index)}: ${where ? `${where}: ` : ""}${issue.message}`);
    }
    const key = `${parsed.data.namespace}/${parsed.data.name}`;
    if (seen.has(key)) throw new ServiceRouteError(`service ${key} is listed twice`);
    seen.add(key);
    routes.push(parsed.data);
  });
  return routes;
}

/** "service <namespace>/<name>" as far as the raw input tells, else its position. */
export function describeRoute(raw: unknown, index: number): string {
  if (typeof raw === "object" && raw !== null) {
    const { namespace, name } = raw as { namespace?: unknown; name?: unknown };
    if (typeof name === "string") return `service ${typeof namespace === "string" ? `${namespace}/` : ""}${name} (services[${index}])`;
  }
  return `services[${index}]`;
}

function sameEntries(a: Map<number, string>, b: Map<number, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}
