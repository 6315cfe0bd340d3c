import type { Logger } from "pino";
import { backoffDelay } from "../../backoff.ts";
import type { Clock } from "../../clock.ts";
import { messageOf, NodeNotConnectedError, NotFoundError } from "../../errors.ts";
import {
  errorCodes,
  nodeInfoSchema,
  pingResultSchema,
  podStatusSchema,
  PROTOCOL_VERSION,
  syncPodsResultSchema,
  syncServicesResultSchema,
  deleteClaimsResultSchema,
  type AgentPodInput,
  type ClaimRef,
  type DeleteClaimsResult,
  type LogsParams,
  type NodeInfo,
  type PodStatus,
  type ServiceRoute,
  type SyncPodsResult,
  type SyncServicesResult,
} from "../protocol.ts";
import { AgentConnection, AgentRequestError } from "./connection.ts";
import { heartbeat } from "./heartbeat.ts";
import type { AgentTransport } from "./transport.ts";
import { z } from "zod";

/** What the control plane knows of one node's link (DESIGN.md, nodes): shown by `capstan nodes` and the page. */
export interface NodeLinkState {
  node: string;
  connected: boolean;
  info?: NodeInfo;
  lastHeartbeat?: Date;
  /** Why the link is down (HostKeyMismatch, unreachable, agent failed to start...). */
  lastError?: { code: string; message: string };
  hostKey?: { fingerprint: string; line: string; trustedOnFirstUse: boolean };
  reconnects: number;
}

/**
 * The control plane's handle on one node (house style 7: an interface, a
 * real implementation over a transport, and a fake sharing one test suite).
 * `sync` and `syncServices` are level-triggered: the whole set, remembered
 * and resent after every reconnect (Services first, so that pods started
 * then already find their Services' addresses in their environment). Before
 * either, a reconnect fences: pods the agent still runs that the desired set
 * no longer holds (evicted while the node was away, and replaced elsewhere)
 * are stopped, and awaited, before the node is told anything else.
 */
export interface NodeClient {
  readonly node: string;
  state(): NodeLinkState;
  /** Sends the full desired pod set; resolves with the agent's answer, rejects while the node is unreachable (the set is still delivered on reconnect). */
  sync(pods: AgentPodInput[]): Promise<SyncPodsResult>;
  /** Sends every Service's routes (the node's proxy listeners and endpoints); like `sync`, rejects while unreachable and is delivered on reconnect. */
  syncServices(services: ServiceRoute[]): Promise<SyncServicesResult>;
  /** The latest status of every pod the agent reported. */
  statuses(): PodStatus[];
  /** Pod status changes as they arrive (the "statuses() stream"); returns an unsubscribe. */
  onStatus(listener: (changed: PodStatus[], removed: string[]) => void): () => void;
  /** Link state changes (connected, heartbeat, error). */
  onState(listener: (state: NodeLinkState) => void): () => void;
  /** Removes deleted claims' directories on the node (see the protocol's deleteClaims); rejects while the node is unreachable. */
  deleteClaims(claims: ClaimRef[]): Promise<DeleteClaimsResult>;
  /** A container's log: the tail, then with `follow` what it appends until `signal` aborts. */
  logs(params: LogsParams, onText: (container: string, text: string) => void, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface AgentNodeClientOptions {
  node: string;
  /** The node's address as the control plane reaches it (passed to the agent for status.hostIP and env). */
  address: string;
  transport: AgentTransport;
  clock: Clock;
  log: Logger;
  /** How often the agent is pinged (default 2.5 s). */
  heartbeatIntervalMs?: number;
  /** Pings in a row without an answer before the link is taken down and redialled (default 3). */
  missedHeartbeats?: number;
  requestTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** How long a returning link waits for the agent's stale pods to stop before it goes on regardless (default 30 s). */
  fenceTimeoutMs?: number;
}

/** A NodeClient over an AgentTransport (SSH or the local socket), reconnecting with back-off and jitter. */
export class AgentNodeClient implements NodeClient {
  readonly node: string;
  readonly #options: AgentNodeClientOptions;
  readonly #abort = new AbortController();
  #state: NodeLinkState;
  #connection: AgentConnection | undefined;
  #desired: AgentPodInput[] | undefined;
  #generation = 0;
  #syncChain: Promise<unknown> = Promise.resolve();
  #desiredServices: ServiceRoute[] | undefined;
  #servicesGeneration = 0;
  #servicesChain: Promise<unknown> = Promise.resolve();
  readonly #statuses = new Map<string, PodStatus>();
  readonly #statusListeners = new Set<(changed: PodStatus[], removed: string[]) => void>();
  readonly #stateListeners = new Set<(state: NodeLinkState) => void>();
  readonly #loop: Promise<void>;
  #wake: (() => void) | undefined;

  constructor(options: AgentNodeClientOptions) {
    this.node = options.node;
    this.#options = options;
    this.#state = { node: options.node, connected: false, reconnects: 0 };
    this.#loop = this.#run();
  }

  state(): NodeLinkState {
    return { ...this.#state, hostKey: this.#options.transport.hostKey ?? this.#state.hostKey };
  }

  statuses(): PodStatus[] {
    return [...this.#statuses.values()];
  }

  onStatus(listener: (changed: PodStatus[], removed: string[]) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  onState(listener: (state: NodeLinkState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  sync(pods: AgentPodInput[]): Promise<SyncPodsResult> {
    this.#desired = pods;
    return this.#queuePush(() => this.#desired ?? []);
  }

  #queuePush(pods: () => AgentPodInput[]): Promise<SyncPodsResult> {
    const run = this.#syncChain.then(() => this.#push(pods()));
    this.#syncChain = run.catch(() => undefined);
    return run;
  }

  syncServices(services: ServiceRoute[]): Promise<SyncServicesResult> {
    this.#desiredServices = services;
    const run = this.#servicesChain.then(() => this.#pushServices());
    this.#servicesChain = run.catch(() => undefined);
    return run;
  }

  async deleteClaims(claims: ClaimRef[]): Promise<DeleteClaimsResult> {
    const connection = this.#requireConnection();
    return deleteClaimsResultSchema.parse(await connection.request("deleteClaims", { claims }, { timeoutMs: this.#timeout }));
  }

  async logs(params: LogsParams, onText: (container: string, text: string) => void, signal?: AbortSignal): Promise<void> {
    try {
      await this.#logs(params, onText, signal);
    } catch (error) {
      if (error instanceof AgentRequestError && error.code === errorCodes.notFound) throw new NotFoundError(error.message);
      throw error;
    }
  }

  async #logs(params: LogsParams, onText: (container: string, text: string) => void, signal?: AbortSignal): Promise<void> {
    const connection = this.#requireConnection();
    if (!params.follow) {
      const result = z.object({ text: z.string() }).parse(await connection.request("logs", params, { timeoutMs: this.#timeout }));
      if (result.text) onText(params.container ?? "", result.text);
      return;
    }
    let requestId: number | undefined;
    const unsubscribe = connection.onEvent((event) => {
      if (event.event === "log" && event.requestId === requestId) onText(event.container, event.text);
    });
    const cancel = () => {
      if (requestId !== undefined) void connection.request("cancel", { requestId }).catch(() => undefined);
    };
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      const done = connection.request("logs", params, { id: (id) => (requestId = id) });
      if (signal?.aborted) cancel();
      await done;
    } finally {
      unsubscribe();
      signal?.removeEventListener("abort", cancel);
    }
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    this.#connection?.close();
    await this.#loop;
    if (this.#state.connected) this.#setState({ connected: false });
    await this.#options.transport.close();
  }

  get #timeout(): number {
    return this.#options.requestTimeoutMs ?? 15_000;
  }

  #requireConnection(): AgentConnection {
    const connection = this.#connection;
    if (!connection || connection.isClosed) {
      throw new NodeNotConnectedError(this.node, this.#state.lastError?.message);
    }
    return connection;
  }

  async #push(pods: AgentPodInput[]): Promise<SyncPodsResult> {
    const connection = this.#requireConnection();
    this.#generation += 1;
    const result = syncPodsResultSchema.parse(
      await connection.request("syncPods", { generation: this.#generation, pods }, { timeoutMs: this.#timeout }),
    );
    // Another control plane (or an earlier life of this one) got further: jump past it and resend.
    if (result.stale) {
      this.#generation = result.generation;
      return this.#push(pods);
    }
    return result;
  }

  async #pushServices(): Promise<SyncServicesResult> {
    const connection = this.#requireConnection();
    const services = this.#desiredServices ?? [];
    this.#servicesGeneration += 1;
    const result = syncServicesResultSchema.parse(
      await connection.request("syncServices", { generation: this.#servicesGeneration, services }, { timeoutMs: this.#timeout }),
    );
    // As for pods: an agent that has seen a newer generation (an earlier life of this control plane) is caught up with.
    if (result.stale) {
      this.#servicesGeneration = result.generation;
      return this.#pushServices();
    }
    return result;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        await this.#session(signal, () => (attempt = 0));
      } catch (error) {
        if (signal.aborted) break;
        const code = (error as { code?: unknown }).code;
        const name = (error as Error).name;
        this.#setState({
          connected: false,
          lastError: { code: typeof code === "string" ? code : name === "Error" ? "AgentUnreachable" : name.replace(/Error$/, ""), message: messageOf(error) },
        });
        this.#options.log.warn({ node: this.node, err: messageOf(error) }, "node link failed");
      }
      if (signal.aborted) break;
      if (this.#state.connected) this.#setState({ connected: false });
      const backoff = this.#options.backoff ?? { initialMs: 500, maxMs: 30_000 };
      await this.#options.clock.sleep(backoffDelay(attempt, backoff), signal);
      attempt += 1;
      this.#state.reconnects += 1;
    }
  }

  /** One connected session: hello, full status, resend the desired set, heartbeats until the link drops. */
  async #session(signal: AbortSignal, connected: () => void): Promise<void> {
    const stream = await this.#options.transport.open(signal);
    const connection = new AgentConnection(stream, this.#options.log);
    const stop = () => connection.close();
    signal.addEventListener("abort", stop, { once: true });
    try {
      const unsubscribe = connection.onEvent((event) => {
        if (event.event !== "podStatus") return;
        this.#applyStatuses(event.pods, event.removed, false);
      });
      const info = nodeInfoSchema.parse(
        await connection.request(
          "hello",
          { protocolVersion: PROTOCOL_VERSION, client: "capstan", node: { name: this.node, address: this.#options.address } },
          { timeoutMs: this.#timeout },
        ),
      );
      this.#generation = Math.max(this.#generation, info.generation);
      this.#servicesGeneration = Math.max(this.#servicesGeneration, info.servicesGeneration ?? 0);
      const snapshot = z
        .object({ pods: z.array(podStatusSchema) })
        .parse(await connection.request("statuses", {}, { timeoutMs: this.#timeout }));
      this.#applyStatuses(snapshot.pods, [], true);
      this.#connection = connection;
      connected();
      this.#setState({ connected: true, info, lastHeartbeat: this.#options.clock.now(), lastError: undefined, hostKey: this.#options.transport.hostKey });
      if (this.#desired) await this.#fence(snapshot.pods.map((pod) => pod.uid), connection);
      // An agent that cannot take the Services (an older one) still runs its pods: logged, not a failed link.
      if (this.#desiredServices) {
        await this.syncServices(this.#desiredServices).catch((error: unknown) =>
          this.#options.log.warn({ node: this.node, err: messageOf(error) }, "resending the Services after a reconnect failed"),
        );
      }
      if (this.#desired) await this.sync(this.#desired);
      await heartbeat(
        connection,
        {
          clock: this.#options.clock,
          log: this.#options.log,
          node: this.node,
          intervalMs: this.#options.heartbeatIntervalMs,
          missedHeartbeats: this.#options.missedHeartbeats,
          onAnswer: (result) => this.#heartbeatAnswered(result),
        },
        signal,
      );
      unsubscribe();
      if (!signal.aborted) throw new Error(messageOf(await connection.closed));
    } finally {
      signal.removeEventListener("abort", stop);
      connection.close();
      if (this.#connection === connection) this.#connection = undefined;
    }
  }

  /**
   * Stops the pods the agent reported on reconnect that are no longer
   * desired, and waits until the agent reports them gone (or `fenceTimeoutMs`
   * passes, or the link drops). The set sent keeps only desired pods the agent
   * already has, and both send queues wait behind the fence, so nothing starts
   * and no Service changes on the node before the stale copies are stopped: a
   * node back from a partition must never serve a pod beside the replacement
   * made for it elsewhere.
   */
  async #fence(reported: string[], connection: AgentConnection): Promise<void> {
    const desiredUids = new Set((this.#desired ?? []).map((pod) => pod.uid));
    const stale = new Set(reported.filter((uid) => !desiredUids.has(uid)));
    if (stale.size === 0) return;
    this.#options.log.warn({ node: this.node, pods: [...stale] }, "fencing: stopping pods no longer assigned here before anything else");
    const running = new Set(reported);
    const timeout = new AbortController();
    const fenced = this.#syncChain.then(async () => {
      let unsubscribe = () => {};
      const gone = new Promise<void>((resolve) => {
        const check = () => {
          if (![...stale].some((uid) => this.#statuses.has(uid))) resolve();
        };
        unsubscribe = this.onStatus(check);
      });
      try {
        await this.#push((this.#desired ?? []).filter((pod) => running.has(pod.uid)));
        if ([...stale].some((uid) => this.#statuses.has(uid))) {
          await Promise.race([gone, connection.closed, this.#options.clock.sleep(this.#options.fenceTimeoutMs ?? 30_000, timeout.signal)]);
        }
      } finally {
        unsubscribe();
        timeout.abort();
      }
    });
    this.#syncChain = fenced.catch(() => undefined);
    this.#servicesChain = Promise.all([this.#servicesChain, this.#syncChain]);
    try {
      await fenced;
    } catch (error) {
      // The full set, sent next, stops them too; only the ordering is lost, and the log says so.
      this.#options.log.warn({ node: this.node, err: messageOf(error) }, "fencing the node's stale pods failed");
    }
    if (connection.isClosed) throw new Error(messageOf(await connection.closed));
  }

  /** A ping answered: the heartbeat time, and the agent's state write error when it appeared or cleared (an older agent answers `{}`). */
  #heartbeatAnswered(result: unknown): void {
    const info = this.#state.info;
    const stateError = pingResultSchema.safeParse(result).data?.stateError;
    if (!info || info.stateError === stateError) {
      this.#setState({ lastHeartbeat: this.#options.clock.now() });
      return;
    }
    const { stateError: _previous, ...rest } = info;
    this.#setState({ lastHeartbeat: this.#options.clock.now(), info: stateError ? { ...rest, stateError } : rest });
  }

  #applyStatuses(pods: PodStatus[], removed: string[], replace: boolean): void {
    const gone = replace ? [...this.#statuses.keys()].filter((uid) => !pods.some((pod) => pod.uid === uid)) : removed;
    for (const uid of gone) this.#statuses.delete(uid);
    for (const pod of pods) this.#statuses.set(pod.uid, pod);
    if (pods.length === 0 && gone.length === 0) return;
    for (const listener of this.#statusListeners) listener(pods, gone);
  }

  #setState(patch: Partial<NodeLinkState>): void {
    this.#state = { ...this.#state, ...patch };
    for (const listener of this.#stateListeners) listener(this.state());
  }
}
