import { chmod, mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { systemClock, type Clock } from "../../clock.ts";
import {
  parsePodSet,
  PROTOCOL_VERSION,
  type AgentPod,
  type ClaimRef,
  type DeleteClaimsResult,
  type LogsParams,
  type NodeInfo,
  type PodStatus,
  type RuntimeName,
  type SyncPodsResult,
  type SyncServicesResult,
} from "../protocol.ts";
import { AgentNotFoundError } from "./errors.ts";
import { podLogs } from "./pod-logs.ts";
import { diffPodSets, podIdentity } from "./pod-set-diff.ts";
import { PodWorker } from "./pod-worker.ts";
import { removeClaimDirectory } from "./volumes.ts";
import { bootId, nodeCapacity } from "./proc.ts";
import { hostRuntimes } from "./host-runtimes.ts";
import type { ContainerRuntime } from "./runtime/index.ts";
import { SecretRoot } from "./secret-root.ts";
import { NodeServices } from "./services.ts";
import { loadState, type AgentState } from "./state.ts";
import { StateWriter } from "./state-writer.ts";
import { StatusEvents, type StatusListener } from "./status-events.ts";
import { lockStateDir, type StateDirLock } from "./state-dir-lock.ts";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions {
  stateDir: string;
  log: Logger;
  clock?: Clock;
  /** Injected in tests; detected on the host otherwise. */
  runtimes?: ReadonlyMap<RuntimeName, ContainerRuntime>;
  /** Where secret and Memory volumes go; default a 0700 dir on /dev/shm (tmpfs), else under the state dir. */
  secretRoot?: string;
  /** How long the Service proxy waits for a backend to accept before trying the next; default 1 s. */
  serviceConnectTimeoutMs?: number;
}

/**
 * The node agent's core, like a kubelet without an API server: it holds the
 * pods assigned to this node, persists them, runs each through a PodWorker,
 * and converges on the newest `syncPods` it has seen. It keeps running its
 * pods when no control plane is connected.
 */
export class Agent {
  readonly #options: AgentOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #state: AgentState;
  readonly #runtimes: ReadonlyMap<RuntimeName, ContainerRuntime>;
  readonly #workers = new Map<string, PodWorker>();
  /** Pods being stopped (removed or replaced): reported until their processes are gone. */
  readonly #terminating = new Map<string, Promise<void>>();
  /** The same, by namespace/name: a pod under a name still being stopped waits (a StatefulSet's identity is its name). */
  readonly #terminatingNames = new Map<string, Promise<void>>();
  /** The pods being stopped, by uid: their processes may still write to their claims. */
  readonly #stoppingPods = new Map<string, AgentPod>();
  readonly #statusEvents = new StatusEvents({
    status: (uid) => this.#workers.get(uid)?.status(),
    generation: () => this.#state.generation,
  });
  readonly #stateWriter: StateWriter;
  readonly #secretRoot: SecretRoot;
  #syncChain: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #info: Omit<NodeInfo, "generation">;
  readonly #services: NodeServices;
  /** Held from before the state is read until close(): no second agent adopts (and restarts) these pods meanwhile. */
  readonly #lock: StateDirLock;

  private constructor(
    options: AgentOptions,
    state: AgentState,
    runtimes: ReadonlyMap<RuntimeName, ContainerRuntime>,
    info: Omit<NodeInfo, "generation">,
    lock: StateDirLock,
  ) {
    this.#options = options;
    this.#lock = lock;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log;
    this.#state = state;
    this.#runtimes = runtimes;
    this.#info = info;
    this.#stateWriter = new StateWriter({ stateDir: options.stateDir, log: this.#log, state: () => this.#state, clock: this.#clock });
    this.#secretRoot = new SecretRoot({ configured: options.secretRoot, stateDir: options.stateDir, agentId: state.agentId });
    this.#services = new NodeServices({
      log: this.#log,
      saved: state.services,
      save: async (saved) => {
        this.#state.services = saved;
        await this.#stateWriter.saveNow();
      },
      nodeAddress: state.node?.address,
      clock: this.#clock,
      ...(options.serviceConnectTimeoutMs !== undefined ? { connectTimeoutMs: options.serviceConnectTimeoutMs } : {}),
    });
  }

  /**
   * Locks the state dir (StateDirInUseError when another agent has it),
   * loads it, re-adopts the pods still running there and kills processes of
   * ours nobody owns.
   */
  static async open(options: AgentOptions): Promise<Agent> {
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const lock = await lockStateDir(options.stateDir);
    try {
      // Logs, config volumes and the state (with Secret data) live here: private, whatever mode it was made with.
      await chmod(options.stateDir, 0o700);
      const state = await loadState(options.stateDir);
      const runtimes = options.runtimes ?? (await hostRuntimes(options.log));
      const [boot, capacity] = await Promise.all([bootId(), nodeCapacity()]);
      const info = {
        protocolVersion: PROTOCOL_VERSION,
        agentVersion: AGENT_VERSION,
        hostname: hostname(),
        bootId: boot,
        capacity,
        runtimes: [...runtimes.keys()],
        stateDir: options.stateDir,
      };
      const agent = new Agent(options, state, runtimes, info, lock);
      await agent.#adopt();
      // Served again from the state, so a node whose control plane is away keeps its Services.
      await agent.#services.start();
      return agent;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  get agentId(): string {
    return this.#state.agentId;
  }

  info(): NodeInfo {
    return { ...this.#info, generation: this.#state.generation, servicesGeneration: this.#services.generation };
  }

  /** Why the last state write failed (a full disk, say), while it keeps failing. */
  get stateError(): string | undefined {
    return this.#stateWriter.lastError;
  }

  setNode(node: { name: string; address: string }): void {
    if (this.#state.node?.name === node.name && this.#state.node.address === node.address) return;
    this.#state.node = node;
    this.#stateWriter.scheduleSave();
    this.#services.setNodeAddress(node.address);
  }

  statuses(): PodStatus[] {
    return [...this.#workers.values()].map((worker) => worker.status());
  }

  get generation(): number {
    return this.#state.generation;
  }

  onStatus(listener: StatusListener): () => void {
    return this.#statusEvents.listen(listener);
  }

  /**
   * Converges on the full desired pod set. Older generations are ignored
   * (`stale`); the same generation again is a no-op. Each pod is checked on
   * its own: a bad one is rejected with why, the rest are applied.
   */
  sync(generation: number, pods: unknown[]): Promise<SyncPodsResult> {
    const run = this.#syncChain.then(() => this.#sync(generation, pods));
    this.#syncChain = run.catch(() => undefined);
    return run;
  }

  async #sync(generation: number, input: unknown[]): Promise<SyncPodsResult> {
    if (this.#closed) throw new Error("the agent is shutting down");
    if (generation < this.#state.generation) return { generation: this.#state.generation, rejected: [], stale: true };

    const { pods: desired, rejected } = parsePodSet(input);

    const current = new Map(this.#state.pods.map((pod) => [pod.uid, pod]));
    const { toStop, toStart, configChanged } = diffPodSets(current, desired);

    this.#state.generation = generation;
    this.#state.pods = [...desired.values()];
    for (const pod of toStop) delete this.#state.records[pod.uid];
    // Written before acting, so a crash cannot forget a pod it started. A failed write (a full disk) is
    // reported in stateError and the set is applied anyway: refusing would leave the node half-converged.
    await this.#stateWriter.saveNow().catch(() => undefined);

    for (const pod of toStop) {
      this.#terminate(pod.uid);
      const stopping = this.#terminating.get(pod.uid);
      const name = `${pod.namespace}/${pod.name}`;
      if (!stopping) continue;
      this.#stoppingPods.set(pod.uid, pod);
      void stopping.then(() => this.#stoppingPods.delete(pod.uid));
      const gone: Promise<void> = Promise.all([this.#terminatingNames.get(name), stopping]).then(() => {
        if (this.#terminatingNames.get(name) === gone) this.#terminatingNames.delete(name);
      });
      this.#terminatingNames.set(name, gone);
    }
    // The same pod with new ConfigMap/Secret data: what it launches from now on reads the new data (a pod blocked on a missing key starts).
    for (const pod of configChanged) this.#workers.get(pod.uid)?.updateConfig(pod);
    for (const pod of toStart) {
      // A replacement waits until its predecessor's processes are gone (ports, hostPath files), and so does a new pod
      // under the name of one being stopped: a StatefulSet's successor must never write its claim beside its predecessor.
      const previous = [this.#terminating.get(pod.uid), this.#terminatingNames.get(`${pod.namespace}/${pod.name}`)];
      void Promise.all(previous)
        .then(() => this.#startWorker(pod))
        .catch((error: unknown) => this.#log.error({ err: error, pod: `${pod.namespace}/${pod.name}` }, "could not start a pod"));
    }
    return { generation, rejected };
  }

  /**
   * Converges the Service proxy on the node's whole Service set (newest
   * generation wins; older ones are `stale` and change nothing). A route the
   * protocol schema refuses fails the set with the Service's name.
   */
  syncServices(generation: number, services: readonly unknown[]): Promise<SyncServicesResult> {
    if (this.#closed) return Promise.reject(new Error("the agent is shutting down"));
    return this.#services.sync(generation, services);
  }

  /** `host:port` → `<namespace>/<name>` of the Service listeners open now. */
  serviceListeners(): Map<string, string> {
    return this.#services.listening();
  }

  /**
   * Removes the directories of deleted claims (reclaim policy Delete), never
   * one that a pod assigned here, or one still being stopped, mounts (those
   * are answered `inUse`: the control plane asks again). Queued with
   * syncPods, so a pod set sent before is applied first.
   */
  deleteClaims(claims: ClaimRef[]): Promise<DeleteClaimsResult> {
    const run = this.#syncChain.then(() => this.#deleteClaims(claims));
    this.#syncChain = run.catch(() => undefined);
    return run;
  }

  async #deleteClaims(claims: ClaimRef[]): Promise<DeleteClaimsResult> {
    const result: DeleteClaimsResult = { deleted: [], inUse: [] };
    for (const claim of claims) {
      const user = [...this.#state.pods, ...this.#stoppingPods.values()].find(
        (pod) => pod.namespace === claim.namespace && (pod.spec.volumes ?? []).some((volume) => volume.persistentVolumeClaim?.claimName === claim.name),
      );
      if (user) {
        result.inUse.push({ ...claim, pod: user.name });
        continue;
      }
      await removeClaimDirectory(this.#claimsDir, claim.namespace, claim.name);
      this.#log.info({ claim: `${claim.namespace}/${claim.name}` }, "removed a deleted claim's directory");
      result.deleted.push(claim);
    }
    return result;
  }

  get #claimsDir(): string {
    return join(this.#options.stateDir, "claims");
  }

  /** Log text of a container: the tail, then (with follow) whatever it appends until `signal` aborts. */
  async logs(params: LogsParams, onText: (container: string, text: string) => void, signal: AbortSignal): Promise<void> {
    await podLogs(this.#state.pods, (uid) => this.#podDir(uid), params, onText, signal);
  }

  /** Stops supervising and saves, leaving every pod running (SIGTERM of the agent is not a drain). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#syncChain;
    for (const worker of this.#workers.values()) {
      this.#state.records[worker.record().uid] = worker.record();
      worker.detach();
    }
    await this.#stateWriter.saveNow().catch((error: unknown) => this.#log.error({ err: error }, "could not save the agent state on shutdown"));
    this.#stateWriter.close();
    await this.#services.close();
    this.#statusEvents.close();
    await this.#lock.release();
  }

  // ------------------------------------------------------------ internals

  async #adopt(): Promise<void> {
    for (const pod of this.#state.pods) await this.#startWorker(pod, this.#state.records[pod.uid]);
    // Processes marked with our id that no record owns: started just before a crash, before the state was written.
    for (const runtime of this.#runtimes.values()) {
      for (const found of await runtime.list(this.#state.agentId)) {
        // Asked after listing, so that a container a worker (re)started meanwhile is never taken for an orphan.
        if (this.#owns(found.runtime, found.id, found.pid)) continue;
        this.#log.warn({ container: found.id, pid: found.pid }, "killing a process of this agent that no pod owns");
        await runtime.kill(found);
      }
    }
  }

  #owns(runtime: string, id: string, pid: number | undefined): boolean {
    for (const worker of this.#workers.values()) {
      for (const container of Object.values(worker.record().containers)) {
        const current = container.current;
        if (current && current.runtime === runtime && current.id === id && (pid === undefined || current.pid === pid)) return true;
      }
    }
    return false;
  }

  async #startWorker(pod: AgentPod, record = this.#state.records[pod.uid]): Promise<void> {
    // Skip a start that a later sync made moot (the pod was removed or replaced again meanwhile).
    const wanted = this.#state.pods.find((candidate) => candidate.uid === pod.uid);
    if (this.#closed || this.#workers.has(pod.uid) || !wanted || podIdentity(wanted) !== podIdentity(pod)) return;
    const secretDir = join(await this.#secretRoot.path(), pod.uid);
    const worker = new PodWorker({
      // The newest data of the pod: a sync may have brought new ConfigMap/Secret data while it waited.
      pod: wanted,
      podDir: this.#podDir(pod.uid),
      secretDir,
      claimsDir: this.#claimsDir,
      agentId: this.#state.agentId,
      runtimes: this.#runtimes,
      hostIP: this.#state.node?.address ?? "127.0.0.1",
      nodeName: this.#state.node?.name ?? hostname(),
      clock: this.#clock,
      log: this.#log.child({ pod: `${pod.namespace}/${pod.name}` }),
      record,
      serviceEnv: () => this.#services.environment(pod.namespace),
      onChange: () => this.#changed(pod.uid),
    });
    this.#workers.set(pod.uid, worker);
    await worker.start();
    this.#changed(pod.uid);
  }

  #terminate(uid: string): void {
    const worker = this.#workers.get(uid);
    if (!worker) return;
    this.#workers.delete(uid);
    // Out of this node's Service endpoints before its preStop hook and SIGTERM, not when the control plane catches up.
    this.#services.podStopping(uid, podKey(worker), Object.values(worker.record().hostPorts));
    const stopping = worker
      .stop({ removeData: true })
      .catch((error: unknown) => this.#log.error({ err: error, uid }, "stopping a pod failed"))
      .finally(() => {
        this.#terminating.delete(uid);
        this.#services.podGone(uid);
        this.#statusEvents.removed(uid);
      });
    this.#terminating.set(uid, stopping);
  }

  #changed(uid: string): void {
    const worker = this.#workers.get(uid);
    if (!worker) return;
    const record = worker.record();
    const status = worker.status();
    this.#services.podStatus(uid, `${status.namespace}/${status.name}`, status.ready, Object.values(record.hostPorts));
    // Status changes (usage samples, readiness) come often; the state file is rewritten only when the record moved.
    if (JSON.stringify(record) !== JSON.stringify(this.#state.records[uid])) {
      this.#state.records[uid] = record;
      this.#stateWriter.scheduleSave();
    }
    this.#statusEvents.changed(uid);
  }

  #podDir(uid: string): string {
    return join(this.#options.stateDir, "pods", uid);
  }

  /** Removes the tmpfs secret root (tests, or an agent being uninstalled); never called on a normal stop. */
  removeSecretRoot(): Promise<void> {
    return this.#secretRoot.remove();
  }
}

// Thrown by logs(); its home is errors.ts, and it is still importable from here.
export { AgentNotFoundError };

function podKey(worker: PodWorker): string {
  const { namespace, name } = worker.status();
  return `${namespace}/${name}`;
}
