import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { canonicalJson, type DesiredStore, type NodeSpec, type StoredObject } from "../../desired/index.ts";
import { messageOf, NotFoundError } from "../../errors.ts";
import type { AgentPodInput, LogsParams, PodStatus } from "../protocol.ts";
import { toAgentPod } from "./agent-pod.ts";
import { finishDeletions } from "./finish-deletions.ts";
import { AgentNodeClient, type NodeClient, type NodeLinkState } from "./node-client.ts";
import { NodeStatusWriter } from "./node-status-writer.ts";
import { PodEventRecorder } from "./pod-event-recorder.ts";
import { PodStatusWriter } from "./pod-status-writer.ts";
import { ServiceRoutePusher } from "./service-route-pusher.ts";
import { planServiceRoutes } from "./service-routes.ts";
import type { AgentTransport } from "./transport.ts";

export interface NodeObject extends StoredObject {
  spec: NodeSpec;
}

export interface NodeManagerOptions {
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  /** The transport to one node (SSH, or the local socket); the control plane's default is in transports.ts. */
  transportFor(node: NodeObject): AgentTransport;
  /** Where a relative workingDir resolves on that node (the local node: the repository checkout). */
  workingDirBaseFor?(node: NodeObject): string | undefined;
  /** Tests inject clients; default AgentNodeClient over transportFor(). */
  clientFor?(node: NodeObject, transport: AgentTransport): NodeClient;
  heartbeatIntervalMs?: number;
  /** Pod statuses are written in batches at most this often. */
  statusFlushMs?: number;
  /** A heartbeat alone rewrites the Node row at most this often (state changes are written at once). */
  heartbeatWriteMs?: number;
  /** Full re-read of nodes and pods, besides the wake-ups from store notifications. */
  resyncIntervalMs?: number;
  /** Told each time a node's link is dialled again after a failure or a drop (/metrics). */
  observer?: NodeLinkObserver;
}

export interface NodeLinkObserver {
  redialled(node: string, times: number): void;
}

interface NodeEntry {
  node: NodeObject;
  specKey: string;
  client: NodeClient;
  unsubscribe: (() => void)[];
  nodeStatus: NodeStatusWriter;
  sentPods?: string;
  connected: boolean;
  /** The uids of the last pod set the agent acknowledged: a deleted pod not among them, and no longer reported, has stopped. */
  acknowledged?: Set<string>;
  /** The uids of pod sets sent and not yet acknowledged. */
  inFlight: Set<string>;
  /** The client's reconnect count already told to the observer. */
  reconnectsTold: number;
}

/**
 * The control plane's side of every node link: one NodeClient per Node
 * object, each given the full set of Pods bound to that node (spec.nodeName)
 * with their ConfigMaps and Secrets resolved; node heartbeats and pod statuses
 * flow back into the store in batches. Every node also gets every Service's
 * routes (service-routes.ts), sent before the pods so that a pod leaves the
 * proxies before its node stops it.
 */
export class NodeManager {
  readonly #options: NodeManagerOptions;
  readonly #entries = new Map<string, NodeEntry>();
  #resyncTimer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  #finishing = false;
  #stopped = false;
  readonly #routes: ServiceRoutePusher;
  readonly #podStatuses: PodStatusWriter;
  readonly #podEvents: PodEventRecorder;

  constructor(options: NodeManagerOptions) {
    this.#options = options;
    const { store, clock, log } = options;
    this.#routes = new ServiceRoutePusher({ store, clock, log });
    this.#podStatuses = new PodStatusWriter({ store, clock, log, flushMs: options.statusFlushMs });
    this.#podEvents = new PodEventRecorder({ store, clock, log });
  }

  async start(): Promise<void> {
    await this.refresh();
    const interval = this.#options.resyncIntervalMs ?? 30_000;
    this.#resyncTimer = setInterval(() => void this.refresh().catch((error: unknown) => this.#logRefreshError(error)), interval);
    this.#resyncTimer.unref();
  }

  /** Re-reads Nodes, Pods, ConfigMaps and Secrets and brings every link up to date; concurrent calls coalesce. */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      try {
        do {
          this.#refreshAgain = false;
          await this.#refreshOnce();
        } while (this.#refreshAgain && !this.#stopped);
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  links(): NodeLinkState[] {
    return [...this.#entries.values()].map((entry) => entry.client.state());
  }

  client(node: string): NodeClient | undefined {
    return this.#entries.get(node)?.client;
  }

  /** Live statuses of every pod the agents report, for the API (usage included). */
  podStatuses(): { node: string; pods: PodStatus[] }[] {
    return [...this.#entries.values()].map((entry) => ({ node: entry.node.name, pods: entry.client.statuses() }));
  }

  async logs(params: LogsParams, onText: (container: string, text: string) => void, signal?: AbortSignal): Promise<void> {
    const pod = await this.#options.store.getObject({ kind: "Pod", namespace: params.namespace, name: params.name });
    if (!pod) throw new NotFoundError(`pod ${params.namespace}/${params.name} not found`);
    const nodeName = (pod.spec as { nodeName?: string }).nodeName;
    const client = nodeName ? this.client(nodeName) : undefined;
    if (!client) throw new NotFoundError(`pod ${params.namespace}/${params.name} is not running on any node (nodeName ${nodeName ?? "unset"})`);
    await client.logs(params, onText, signal);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resyncTimer);
    await this.#refreshing?.catch(() => undefined);
    await Promise.all([...this.#entries.values()].map((entry) => this.#remove(entry)));
    this.#entries.clear();
    await this.#podStatuses.flush();
  }

  // ------------------------------------------------------------ internals

  async #refreshOnce(): Promise<void> {
    if (this.#stopped) return;
    const { store } = this.#options;
    const [nodes, pods, configMaps, secrets, services, slices] = await Promise.all([
      store.listObjects({ kind: "Node" }),
      store.listObjects({ kind: "Pod" }),
      store.listObjects({ kind: "ConfigMap" }),
      store.listObjects({ kind: "Secret" }),
      store.listObjects({ kind: "Service" }),
      store.listObjects({ kind: "EndpointSlice" }),
    ]);
    const index = (objects: StoredObject[]) => new Map(objects.map((object) => [`${object.namespace}/${object.name}`, object]));
    const configMapIndex = index(configMaps);
    const secretIndex = index(secrets);
    const lookup = {
      configMap: (namespace: string, name: string) => configMapIndex.get(`${namespace}/${name}`),
      secret: (namespace: string, name: string) => secretIndex.get(`${namespace}/${name}`),
    };

    const wanted = new Map(nodes.map((node) => [node.name, node as NodeObject]));
    for (const [name, entry] of this.#entries) {
      const node = wanted.get(name);
      if (!node || canonicalJson(node.spec) !== entry.specKey) {
        this.#entries.delete(name);
        // A Node removed from Git keeps nothing of ours running; a changed one (new address, key) is only reconnected.
        if (!node) await this.#drain(entry);
        await this.#remove(entry);
        this.#routes.forget(name);
      }
    }
    for (const node of wanted.values()) {
      if (!this.#entries.has(node.name)) this.#add(node);
    }

    // Routes first, answers awaited (bounded): a pod deleted since the last pass leaves every proxy before its node stops it.
    await this.#routes.push(
      [...this.#entries.values()].map((entry) => entry.client),
      planServiceRoutes(services, slices, pods),
    );

    const podsByNode = new Map<string, StoredObject[]>();
    for (const pod of pods) {
      this.#podStatuses.seedReadiness(pod);
      const nodeName = (pod.spec as { nodeName?: string }).nodeName;
      if (!nodeName || !wanted.has(nodeName)) continue;
      podsByNode.set(nodeName, [...(podsByNode.get(nodeName) ?? []), pod]);
    }
    for (const entry of this.#entries.values()) {
      const base = this.#options.workingDirBaseFor?.(entry.node);
      const desired: AgentPodInput[] = (podsByNode.get(entry.node.name) ?? []).map((pod) => toAgentPod(pod, lookup, base));
      const key = canonicalJson(desired);
      // Statuses are level-triggered too: a resync rewrites them (no-op writes are skipped by the store).
      this.#queuePods(entry, entry.client.statuses());
      if (key === entry.sentPods) continue;
      entry.sentPods = key;
      for (const pod of desired) entry.inFlight.add(pod.uid);
      entry.client.sync(desired).then(
        (result) => {
          if (entry.sentPods === key) {
            entry.acknowledged = new Set(desired.map((pod) => pod.uid));
            entry.inFlight.clear();
          }
          for (const rejected of result.rejected) {
            this.#options.log.warn({ node: entry.node.name, pod: rejected.name, reason: rejected.reason }, "agent refused a pod");
          }
        },
        // Delivered on reconnect, but unacknowledged here: sent again at the next refresh, so that it is acknowledged.
        () => {
          if (entry.sentPods === key) entry.sentPods = undefined;
        },
      );
    }
    void this.#finishDeletions(pods, nodes);
  }

  /** One pass of finishDeletions at a time; when something still waits, another refresh soon. */
  async #finishDeletions(pods: StoredObject[], nodes: StoredObject[]): Promise<void> {
    if (this.#finishing) return;
    this.#finishing = true;
    try {
      const links = [...this.#entries.values()].map((entry) => ({
        node: entry.node.name,
        client: entry.client,
        acknowledged: entry.acknowledged,
        inFlight: new Set(entry.inFlight),
      }));
      const { waiting } = await finishDeletions({ store: this.#options.store, log: this.#options.log, pods, nodes, links });
      if (waiting && !this.#stopped) setTimeout(() => void this.refresh().catch((error: unknown) => this.#logRefreshError(error)), 3_000).unref();
    } catch (error) {
      this.#options.log.warn({ err: messageOf(error) }, "finishing deletions failed; retrying at the next refresh");
    } finally {
      this.#finishing = false;
    }
  }

  #add(node: NodeObject): void {
    const transport = this.#options.transportFor(node);
    const client =
      this.#options.clientFor?.(node, transport) ??
      new AgentNodeClient({
        node: node.name,
        address: node.spec.address,
        transport,
        clock: this.#options.clock,
        log: this.#options.log.child({ node: node.name }),
        heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
      });
    const nodeStatus = new NodeStatusWriter({
      store: this.#options.store,
      clock: this.#options.clock,
      log: this.#options.log,
      node: node.name,
      address: node.spec.address,
      heartbeatWriteMs: this.#options.heartbeatWriteMs,
    });
    const entry: NodeEntry = { node, specKey: canonicalJson(node.spec), client, unsubscribe: [], nodeStatus, connected: client.state().connected, inFlight: new Set(), reconnectsTold: client.state().reconnects };
    entry.unsubscribe.push(
      client.onState((state) => {
        void entry.nodeStatus.write(state);
        if (state.reconnects > entry.reconnectsTold) this.#options.observer?.redialled(node.name, state.reconnects - entry.reconnectsTold);
        entry.reconnectsTold = Math.max(entry.reconnectsTold, state.reconnects);
        // Back after a drop: push the routes again, so that this time the agent's listen errors are reported.
        if (state.connected && !entry.connected && !this.#stopped) {
          this.#routes.forget(node.name);
          void this.refresh().catch((error: unknown) => this.#logRefreshError(error));
        }
        entry.connected = state.connected;
      }),
      client.onStatus((changed, removed) => {
        for (const uid of removed) {
          this.#podStatuses.forget(uid);
          this.#podEvents.forget(uid);
        }
        // A pod's processes are gone: a deletion waiting for that (a StatefulSet's successor, a claim's directory) may go on.
        if (removed.length > 0 && !this.#stopped) void this.refresh().catch((error: unknown) => this.#logRefreshError(error));
        this.#queuePods(entry, changed);
        this.#podEvents.recordWarnings(changed);
      }),
    );
    this.#entries.set(node.name, entry);
    void entry.nodeStatus.write(client.state());
  }

  /** Tells the agent to stop every pod and close every Service listener, if it can be reached soon; a node that is gone already has nothing to stop. */
  async #drain(entry: NodeEntry): Promise<void> {
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
    const emptied = Promise.all([entry.client.syncServices([]), entry.client.sync([])]);
    await Promise.race([emptied.then(() => undefined, () => undefined), timeout]);
  }

  async #remove(entry: NodeEntry): Promise<void> {
    for (const unsubscribe of entry.unsubscribe) unsubscribe();
    await entry.client.close().catch((error: unknown) => this.#options.log.warn({ node: entry.node.name, err: messageOf(error) }, "closing a node link failed"));
  }

  /** A node's report, pushed (onStatus) or re-read at a resync: its restarts become DriftRepaired events, its statuses join the next batch. */
  #queuePods(entry: NodeEntry, changed: PodStatus[]): void {
    this.#podEvents.recordRestarts(entry.node.name, changed);
    this.#podStatuses.queue(entry.node.spec.address, changed);
  }

  #logRefreshError(error: unknown): void {
    this.#options.log.warn({ err: messageOf(error) }, "node refresh failed; retrying at the next resync");
  }
}
