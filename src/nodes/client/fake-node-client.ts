import type { Clock } from "../../clock.ts";
import { canonicalJson } from "../../desired/index.ts";
import { NodeNotConnectedError, NotFoundError } from "../../errors.ts";
import {
  parsePodSet,
  PROTOCOL_VERSION,
  type AgentPodInput,
  type ClaimRef,
  type ContainerState,
  type DeleteClaimsResult,
  type LogsParams,
  type NodeInfo,
  type PodStatus,
  type RuntimeName,
  type ServiceRoute,
  type SyncPodsResult,
  type SyncServicesResult,
} from "../protocol.ts";
import { createFakePod, fakePodStatus, type FakePod } from "./fake-pod.ts";
import { FakeServiceProxy } from "./fake-service-proxy.ts";
import type { NodeClient, NodeLinkState } from "./node-client.ts";

export interface FakeNodeClientOptions {
  clock: Clock;
  /** Default "fake-node". */
  node?: string;
  /** Default 4 cores, 8 GiB. */
  capacity?: { cpuMillis: number; memoryBytes: number };
  /** Runtimes the node offers; default ["process"]. An image container needs docker or podman here to run. */
  runtimes?: RuntimeName[];
  /** Default the node name. */
  hostname?: string;
  /** Whether the link starts up; default true. */
  connected?: boolean;
  /** The first fake host port handed out; default 30000. Ports are never reused. */
  firstHostPort?: number;
}

type StatusListener = (changed: PodStatus[], removed: string[]) => void;
type StateListener = (state: NodeLinkState) => void;

interface Follower {
  namespace: string;
  name: string;
  container: string;
  onText: (container: string, text: string) => void;
}

/**
 * An in-memory node for logic tests of controllers (house style 7): the same
 * NodeClient contract as AgentNodeClient + capstan-agent, checked by
 * test/nodes/client/node-client.suite.ts against both.
 *
 * What it does, and how it differs from a real node:
 * - `sync` validates each pod with agentPodSchema (rejections carry the
 *   agent's `path: message` reasons, duplicates included) and applies the
 *   rest at once: by the time `sync` resolves, statuses() and the onStatus
 *   listeners already show the new set. A real agent reports asynchronously
 *   (Pending first); code under test must not rely on that either way.
 * - Every app container (and sidecar) is Running and ready immediately, with
 *   runtime "process" (or docker/podman for an image, when offered), a fake
 *   host port per container port (its `hostPort` when fixed) and no pid or
 *   usage. Plain init containers show as terminated, Completed. Probes,
 *   hooks, back-off and grace periods are not modelled. A container that
 *   cannot start on a real node (an image without docker/podman, no command
 *   and no image) waits with the agent's reason and keeps the pod Pending.
 * - A pod removed from the set is gone at once (the agent stops it first).
 * - `syncServices` keeps the routes (`services()` shows what the node was
 *   last told) and "listens" on each non-headless port and nodePort: a port
 *   held by `occupyPort` is a listen error, as a port in use is on a real
 *   node, and a port the fake listens on cannot be occupied. No traffic is
 *   proxied.
 * - Test controls: `disconnect`/`reconnect` (the node keeps running its pods;
 *   the client's view freezes; `sync` rejects with NodeNotConnectedError but
 *   the set is remembered and applied on reconnect, after a full status
 *   snapshot, as AgentNodeClient does), `crash`, `setReady`, `setLogs`,
 *   `appendLogs`.
 */
export class FakeNodeClient implements NodeClient {
  readonly node: string;
  readonly #clock: Clock;
  readonly #info: Omit<NodeInfo, "generation">;
  #connected: boolean;
  /** As with AgentNodeClient, `info` is known once the link has been up. */
  #everConnected: boolean;
  #closed = false;
  #lastHeartbeat: Date | undefined;
  #lastError: { code: string; message: string } | undefined;
  #reconnects = 0;
  #generation = 0;
  #nextHostPort: number;
  /** The latest set handed to sync(), applied on reconnect. */
  #desired: AgentPodInput[] | undefined;
  #servicesGeneration = 0;
  #desiredServices: ServiceRoute[] | undefined;
  readonly #proxy: FakeServiceProxy;
  /** What runs on the node, by uid. */
  readonly #pods = new Map<string, FakePod>();
  /** What the client last heard, by uid: frozen while disconnected. */
  readonly #view = new Map<string, PodStatus>();
  readonly #logs = new Map<string, string>();
  readonly #followers = new Set<Follower>();
  readonly #closing = new AbortController();
  readonly #statusListeners = new Set<StatusListener>();
  readonly #stateListeners = new Set<StateListener>();
  /** Notifications run in order, even when a listener calls back into the client. */
  readonly #outbox: (() => void)[] = [];
  #delivering = false;

  constructor(options: FakeNodeClientOptions) {
    this.node = options.node ?? "fake-node";
    this.#clock = options.clock;
    this.#proxy = new FakeServiceProxy(this.node);
    this.#connected = options.connected ?? true;
    this.#everConnected = this.#connected;
    this.#nextHostPort = options.firstHostPort ?? 30_000;
    if (this.#connected) this.#lastHeartbeat = this.#clock.now();
    else this.#lastError = { code: "AgentUnreachable", message: "not connected yet" };
    this.#info = {
      protocolVersion: PROTOCOL_VERSION,
      agentVersion: "fake",
      hostname: options.hostname ?? this.node,
      bootId: `fake-boot-${this.node}`,
      capacity: { ...(options.capacity ?? { cpuMillis: 4_000, memoryBytes: 8 * 1024 ** 3 }) },
      runtimes: [...(options.runtimes ?? ["process"])],
      stateDir: `/var/lib/capstan-agent/${this.node}`,
    };
  }

  // ------------------------------------------------------------ NodeClient

  state(): NodeLinkState {
    const now = this.#connected ? this.#clock.now() : this.#lastHeartbeat;
    return {
      node: this.node,
      connected: this.#connected,
      ...(this.#everConnected
        ? { info: { ...this.#info, capacity: { ...this.#info.capacity }, runtimes: [...this.#info.runtimes], generation: this.#generation } }
        : {}),
      ...(now ? { lastHeartbeat: now } : {}),
      ...(this.#lastError ? { lastError: { ...this.#lastError } } : {}),
      reconnects: this.#reconnects,
    };
  }

  statuses(): PodStatus[] {
    return [...this.#view.values()].map((status) => structuredClone(status));
  }

  onStatus(listener: StatusListener): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  onState(listener: StateListener): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  async sync(pods: AgentPodInput[]): Promise<SyncPodsResult> {
    if (this.#closed) throw new NodeNotConnectedError(this.node, "the client is closed");
    this.#desired = pods;
    this.#requireConnected();
    return this.#apply(pods);
  }

  async syncServices(services: ServiceRoute[]): Promise<SyncServicesResult> {
    if (this.#closed) throw new NodeNotConnectedError(this.node, "the client is closed");
    this.#desiredServices = services;
    this.#requireConnected();
    return this.#applyServices(services);
  }

  /** As the agent: a claim a pod here mounts is refused; the others are recorded in `deletedClaims`. */
  async deleteClaims(claims: ClaimRef[]): Promise<DeleteClaimsResult> {
    this.#requireConnected();
    const result: DeleteClaimsResult = { deleted: [], inUse: [] };
    for (const claim of claims) {
      const user = [...this.#pods.values()].find(
        ({ pod }) => pod.namespace === claim.namespace && (pod.spec.volumes ?? []).some((volume) => volume.persistentVolumeClaim?.claimName === claim.name),
      );
      if (user) result.inUse.push({ ...claim, pod: user.pod.name });
      else {
        result.deleted.push(claim);
        this.deletedClaims.push(`${claim.namespace}/${claim.name}`);
      }
    }
    return result;
  }

  /** Every claim directory deleteClaims removed, as namespace/name, in order. */
  readonly deletedClaims: string[] = [];

  async logs(params: LogsParams, onText: (container: string, text: string) => void, signal?: AbortSignal): Promise<void> {
    this.#requireConnected();
    const pod = [...this.#pods.values()].find((candidate) => candidate.pod.namespace === params.namespace && candidate.pod.name === params.name);
    if (!pod) throw new NotFoundError(`pod ${params.namespace}/${params.name} is not on this node`);
    const names = [...pod.init, ...pod.apps].map((container) => container.name);
    const container = params.container ?? (pod.apps.length === 1 ? pod.apps[0]!.name : undefined);
    if (!container) throw new NotFoundError(`pod ${params.namespace}/${params.name} has several containers: choose one of ${names.join(", ")}`);
    if (!names.includes(container)) throw new NotFoundError(`container ${container} is not in pod ${params.namespace}/${params.name}`);
    const tail = tailLines(this.#logs.get(logKey(params.namespace, params.name, container)) ?? "", params.tailLines ?? (params.follow ? 10 : 1000));
    if (!params.follow) {
      // As AgentNodeClient does: a one-shot answer names the container asked for, "" when it was defaulted.
      if (tail) onText(params.container ?? "", tail);
      return;
    }
    if (tail) onText(container, tail);
    const follower: Follower = { namespace: params.namespace, name: params.name, container, onText };
    this.#followers.add(follower);
    try {
      await new Promise<void>((resolve) => {
        const done = AbortSignal.any([this.#closing.signal, ...(signal ? [signal] : [])]);
        if (done.aborted) return resolve();
        done.addEventListener("abort", () => resolve(), { once: true });
      });
    } finally {
      this.#followers.delete(follower);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    if (this.#connected) {
      this.#connected = false;
      this.#lastHeartbeat = this.#clock.now();
      this.#lastError = undefined;
    }
  }

  // ------------------------------------------------------------ test controls

  /** Drops the link: the node keeps its pods, the client's view freezes, sync and logs reject with NodeNotConnectedError. */
  disconnect(reason = "connection lost"): void {
    if (!this.#connected) return;
    this.#connected = false;
    this.#lastHeartbeat = this.#clock.now();
    this.#lastError = { code: "AgentUnreachable", message: reason };
    this.#emitState();
  }

  /**
   * Restores the link as AgentNodeClient's reconnect does: the view is
   * replaced by the node's full status (one onStatus call with every pod and
   * the uids gone meanwhile), then the remembered set is applied (its result,
   * rejections included, is not reported: the real client drops it too).
   */
  reconnect(): void {
    if (this.#connected || this.#closed) return;
    this.#connected = true;
    if (this.#everConnected) this.#reconnects += 1;
    this.#everConnected = true;
    this.#lastError = undefined;
    this.#lastHeartbeat = this.#clock.now();
    const snapshot = [...this.#pods.values()].map((pod) => fakePodStatus(pod));
    const gone = [...this.#view.keys()].filter((uid) => !this.#pods.has(uid));
    this.#view.clear();
    for (const status of snapshot) this.#view.set(status.uid, status);
    if (snapshot.length > 0 || gone.length > 0) this.#emitStatus(snapshot, gone);
    this.#emitState();
    if (this.#desiredServices) this.#applyServices(this.#desiredServices);
    if (this.#desired) this.#apply(this.#desired);
  }

  /** The Services the node was last told about (what its proxy serves). */
  services(): ServiceRoute[] {
    return this.#proxy.routes();
  }

  /** Something else on the node takes `port`: rejects with EADDRINUSE when the node's proxy listens on it; the returned function frees it. */
  async occupyPort(port: number): Promise<() => Promise<void>> {
    return this.#proxy.occupy(port);
  }

  /**
   * A container of the pod (default: its first app container) exits with
   * `exitCode`: `lastState` records the termination and `restartCount` goes
   * up. Under the pod's restartPolicy (Always; OnFailure with a non-zero
   * code) it is running again at once (no CrashLoopBackOff wait); otherwise
   * it stays terminated, and once every app container has ended the pod is
   * Succeeded (all exited 0) or Failed.
   */
  crash(namespace: string, name: string, exitCode: number, container?: string): void {
    const pod = this.#find(namespace, name);
    const target = container === undefined ? pod.apps[0]! : [...pod.apps, ...pod.init].find((candidate) => candidate.name === container);
    if (!target) throw new NotFoundError(`container ${container} is not in pod ${namespace}/${name}`);
    if (!("running" in target.state)) throw new Error(`container ${target.name} of pod ${namespace}/${name} is not running`);
    const now = this.#clock.now().toISOString();
    const terminated: ContainerState = {
      terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error", startedAt: target.state.running.startedAt, finishedAt: now },
    };
    const policy = pod.pod.spec.restartPolicy;
    const restarts = target.role !== "app" || policy === "Always" || (policy === "OnFailure" && exitCode !== 0);
    if (restarts) {
      target.lastState = terminated;
      target.state = { running: { startedAt: now } };
      target.restartCount += 1;
    } else {
      target.state = terminated;
      target.terminal = true;
    }
    this.#changed(pod);
  }

  /** Sets the readiness of the pod's app containers and sidecars (or of one container): what a readiness probe would decide. */
  setReady(namespace: string, name: string, ready: boolean, container?: string): void {
    const pod = this.#find(namespace, name);
    const targets = [...pod.init.filter((candidate) => candidate.role === "sidecar"), ...pod.apps].filter(
      (candidate) => container === undefined || candidate.name === container,
    );
    if (targets.length === 0) throw new NotFoundError(`container ${container} is not in pod ${namespace}/${name}`);
    for (const target of targets) target.ready = ready;
    this.#changed(pod);
  }

  /** Sets a container's whole log text (the pod need not exist yet). */
  setLogs(namespace: string, name: string, container: string, text: string): void {
    this.#logs.set(logKey(namespace, name, container), text);
  }

  /** Appends to a container's log; followers (`logs` with follow) receive the text. */
  appendLogs(namespace: string, name: string, container: string, text: string): void {
    const key = logKey(namespace, name, container);
    this.#logs.set(key, (this.#logs.get(key) ?? "") + text);
    for (const follower of this.#followers) {
      if (follower.namespace === namespace && follower.name === name && follower.container === container) follower.onText(container, text);
    }
  }

  // ------------------------------------------------------------ internals

  #requireConnected(): void {
    if (!this.#connected) throw new NodeNotConnectedError(this.node, this.#closed ? "the client is closed" : this.#lastError?.message);
  }

  #find(namespace: string, name: string): FakePod {
    for (const pod of this.#pods.values()) if (pod.pod.namespace === namespace && pod.pod.name === name) return pod;
    throw new NotFoundError(`pod ${namespace}/${name} is not on this node`);
  }

  /** The agent's syncServices: a new generation, and the ports its proxy could not listen on. */
  #applyServices(services: ServiceRoute[]): SyncServicesResult {
    this.#servicesGeneration += 1;
    return { generation: this.#servicesGeneration, listenErrors: this.#proxy.apply(services) };
  }

  /** The agent's syncPods: each pod checked on its own, the rest converged on. */
  #apply(input: AgentPodInput[]): SyncPodsResult {
    const { pods: desired, rejected } = parsePodSet(input);
    this.#generation += 1;

    const removed: string[] = [];
    const changed: FakePod[] = [];
    for (const uid of [...this.#pods.keys()]) {
      if (!desired.has(uid)) {
        this.#pods.delete(uid);
        removed.push(uid);
      }
    }
    for (const pod of desired.values()) {
      const identity = canonicalJson(pod);
      if (this.#pods.get(pod.uid)?.identity === identity) continue;
      // New, or the same uid with another spec: a replacement, started afresh.
      const created = createFakePod(pod, identity, {
        now: this.#clock.now().toISOString(),
        runtimes: this.#info.runtimes,
        allocateHostPort: () => this.#nextHostPort++,
      });
      this.#pods.set(pod.uid, created);
      changed.push(created);
    }
    if (this.#connected) {
      const statuses = changed.map((pod) => fakePodStatus(pod));
      for (const uid of removed) this.#view.delete(uid);
      for (const status of statuses) this.#view.set(status.uid, status);
      if (statuses.length > 0 || removed.length > 0) this.#emitStatus(statuses, removed);
    }
    return { generation: this.#generation, rejected };
  }

  #changed(pod: FakePod): void {
    if (!this.#connected) return;
    const status = fakePodStatus(pod);
    this.#view.set(status.uid, status);
    this.#emitStatus([status], []);
  }

  #emitStatus(changed: PodStatus[], removed: string[]): void {
    const listeners = [...this.#statusListeners];
    this.#deliver(() => {
      for (const listener of listeners) listener(changed.map((status) => structuredClone(status)), [...removed]);
    });
  }

  #emitState(): void {
    const listeners = [...this.#stateListeners];
    const state = this.state();
    this.#deliver(() => {
      for (const listener of listeners) listener(state);
    });
  }

  #deliver(notify: () => void): void {
    this.#outbox.push(notify);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let next = this.#outbox.shift(); next; next = this.#outbox.shift()) next();
    } finally {
      this.#delivering = false;
      this.#outbox.length = 0;
    }
  }
}

function logKey(namespace: string, name: string, container: string): string {
  return `${namespace}/${name}/${container}`;
}

/** The last `lines` lines of `text` (a trailing newline does not count as a line). */
function tailLines(text: string, lines: number): string {
  if (lines === 0) return "";
  const parts = text.split("\n");
  const trailing = parts.at(-1) === "" ? parts.pop() : undefined;
  const kept = parts.slice(-lines).join("\n");
  return trailing === undefined ? kept : `${kept}\n`;
}
