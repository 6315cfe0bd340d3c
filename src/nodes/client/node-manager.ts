import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { canonicalJson, type DesiredStore, type NodeSpec, type StatusUpdate, type StoredObject } from "../../desired/index.ts";
import { messageOf, NotFoundError } from "../../errors.ts";
import type { AgentPodInput, LogsParams, PodStatus } from "../protocol.ts";
import { toAgentPod } from "./agent-pod.ts";
import { finishDeletions } from "./finish-deletions.ts";
import { AgentNodeClient, type NodeClient, type NodeLinkState } from "./node-client.ts";
import { nodeStatus, readyCondition, storedPodStatus, type NodeReadyCondition } from "./node-status.ts";
import { ServiceRoutePusher } from "./service-route-pusher.ts";
import { planServiceRoutes } from "./service-routes.ts";
import { podWarnings, warningKey } from "./pod-warnings.ts";
import { newRestarts } from "./restart-drift.ts";
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
}

interface NodeEntry {
  node: NodeObject;
  specKey: string;
  client: NodeClient;
  unsubscribe: (() => void)[];
  ready?: NodeReadyCondition;
  lastWrittenAt: number;
  lastWritten?: string;
  sentPods?: string;
  connected: boolean;
  /** The uids of the last pod set the agent acknowledged: a deleted pod not among them, and no longer reported, has stopped. */
  acknowledged?: Set<string>;
  /** The uids of pod sets sent and not yet acknowledged. */
  inFlight: Set<string>;
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
  readonly #pendingPods = new Map<string, StatusUpdate>();
  /** Per pod uid: its readiness and since when (the agent reports the state, not the moment it changed). */
  readonly #readiness = new Map<string, { ready: boolean; since: Date }>();
  /** Per pod uid: the warnings its status calls for that were already recorded as events. */
  readonly #warned = new Map<string, Set<string>>();
  /** Restart counts per pod and container, to tell each agent-side restart as a DriftRepaired event. */
  readonly #restarts = new Map<string, Map<string, number>>();
  #flushTimer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  #finishing = false;
  #stopped = false;
  readonly #routes: ServiceRoutePusher;

  constructor(options: NodeManagerOptions) {
    this.#options = options;
    this.#routes = new ServiceRoutePusher({ store: options.store, clock: options.clock, log: options.log });
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
    await this.#flush();
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
      this.#seedReadiness(pod);
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
    const entry: NodeEntry = { node, specKey: canonicalJson(node.spec), client, unsubscribe: [], lastWrittenAt: 0, connected: client.state().connected, inFlight: new Set() };
    entry.unsubscribe.push(
      client.onState((state) => {
        void this.#writeNode(entry, state);
        // Back after a drop: push the routes again, so that this time the agent's listen errors are reported.
        if (state.connected && !entry.connected && !this.#stopped) {
          this.#routes.forget(node.name);
          void this.refresh().catch((error: unknown) => this.#logRefreshError(error));
        }
        entry.connected = state.connected;
      }),
      client.onStatus((changed, removed) => {
        for (const uid of removed) {
          this.#readiness.delete(uid);
          this.#warned.delete(uid);
          this.#restarts.delete(uid);
        }
        // A pod's processes are gone: a deletion waiting for that (a StatefulSet's successor, a claim's directory) may go on.
        if (removed.length > 0 && !this.#stopped) void this.refresh().catch((error: unknown) => this.#logRefreshError(error));
        this.#queuePods(entry, changed);
        this.#recordWarnings(changed);
      }),
    );
    this.#entries.set(node.name, entry);
    void this.#writeNode(entry, client.state());
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

  async #writeNode(entry: NodeEntry, state: NodeLinkState): Promise<void> {
    const now = this.#options.clock.now();
    const ready = readyCondition(state, entry.ready, now);
    const transitioned = entry.ready?.status !== ready.status;
    entry.ready = ready;
    const status = nodeStatus(state, entry.node.spec.address, ready);
    // Everything but the heartbeat time: a change there is written at once, a heartbeat alone only now and then.
    const withoutHeartbeat = canonicalJson({ ...status, conditions: [{ ...ready, lastHeartbeatTime: null }] });
    const heartbeatOnly = withoutHeartbeat === entry.lastWritten && !transitioned;
    if (heartbeatOnly && now.getTime() - entry.lastWrittenAt < (this.#options.heartbeatWriteMs ?? 20_000)) return;
    entry.lastWritten = withoutHeartbeat;
    entry.lastWrittenAt = now.getTime();
    try {
      await this.#options.store.updateStatuses([{ key: { kind: "Node", namespace: "", name: entry.node.name }, status }]);
    } catch (error) {
      entry.lastWritten = undefined;
      this.#options.log.warn({ node: entry.node.name, err: messageOf(error) }, "could not write node status");
    }
  }

  /** Readiness times survive a control-plane restart: they are taken from the stored status the first time a pod is seen. */
  #seedReadiness(pod: StoredObject): void {
    if (this.#readiness.has(pod.uid)) return;
    const ready = (pod.status as { conditions?: { type: string; status: string; lastTransitionTime?: string | null }[] }).conditions?.find(
      (condition) => condition.type === "Ready",
    );
    if (!ready?.lastTransitionTime) return;
    this.#readiness.set(pod.uid, { ready: ready.status === "True", since: new Date(ready.lastTransitionTime) });
  }

  #queuePods(entry: NodeEntry, changed: PodStatus[]): void {
    for (const repair of newRestarts(this.#restarts, changed, entry.node.name)) {
      const event = { objectUid: repair.uid, kind: "Pod", namespace: repair.namespace, name: repair.name, type: "Warning" as const, reason: "DriftRepaired", message: repair.message, source: "node-manager", at: this.#options.clock.now() };
      this.#options.store.recordEvent(event).catch((error: unknown) => this.#options.log.warn({ err: messageOf(error) }, "could not record an event"));
    }
    for (const pod of changed) {
      const previous = this.#readiness.get(pod.uid);
      const readiness = previous?.ready === pod.ready ? previous : { ready: pod.ready, since: this.#options.clock.now() };
      this.#readiness.set(pod.uid, readiness);
      this.#pendingPods.set(pod.uid, {
        key: { kind: "Pod", namespace: pod.namespace, name: pod.name },
        uid: pod.uid,
        status: storedPodStatus(pod, entry.node.spec.address, readiness.since),
      });
    }
    if (this.#flushTimer || this.#pendingPods.size === 0) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.#flush();
    }, this.#options.statusFlushMs ?? 200);
  }

  /** A Warning event on the pod for each blocked container (or failed pod) the agent reports, once per appearance. */
  #recordWarnings(changed: PodStatus[]): void {
    for (const pod of changed) {
      const warnings = podWarnings(pod);
      const before = this.#warned.get(pod.uid);
      const now = new Set(warnings.map(warningKey));
      if (now.size === 0) this.#warned.delete(pod.uid);
      else this.#warned.set(pod.uid, now);
      for (const warning of warnings) {
        if (before?.has(warningKey(warning))) continue;
        const event = { objectUid: pod.uid, kind: "Pod", namespace: pod.namespace, name: pod.name, type: "Warning" as const, ...warning, source: "capstan-agent", at: this.#options.clock.now() };
        this.#options.store.recordEvent(event).catch((error: unknown) =>
          this.#options.log.warn({ pod: `${pod.namespace}/${pod.name}`, reason: warning.reason, err: messageOf(error) }, "could not record a pod event"),
        );
      }
    }
  }

  async #flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#pendingPods.size === 0) return;
    const batch = [...this.#pendingPods.values()];
    this.#pendingPods.clear();
    try {
      await this.#options.store.updateStatuses(batch);
    } catch (error) {
      // Statuses are level-triggered too: the next change or resync writes them again.
      this.#options.log.warn({ pods: batch.length, err: messageOf(error) }, "could not write pod statuses");
    }
  }

  #logRefreshError(error: unknown): void {
    this.#options.log.warn({ err: messageOf(error) }, "node refresh failed; retrying at the next resync");
  }
}
