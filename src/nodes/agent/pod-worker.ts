import { mkdir } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { parseBytes, parseCpuMillis, type Container, type Probe, type RestartPolicy } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import type { AgentPod, ContainerState, ContainerStatus, PodPhase, PodStatus, ResourceUsage, RuntimeName } from "../protocol.ts";
import { buildContainerEnv } from "./env.ts";
import { PodConfigError } from "./errors.ts";
import { runHook } from "./hooks.ts";
import { DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES, rotateLog } from "./logs.ts";
import type { ContainerRunRecord, PodRecord } from "./pod-record.ts";
import { allocateHostPorts, hostPortKey, portBindings, releaseHostPorts } from "./ports.ts";
import { ProbeState, probeDelayMs, runProbe, type ProbeTarget } from "./probes.ts";
import { ContainerStartError, type ContainerHandle, type ContainerRuntime, type ExitInfo, type LaunchSpec } from "./runtime/types.ts";
import { containerMounts, prepareVolumes, removePodVolumes, type PreparedVolume } from "./volumes.ts";

/**
 * One pod on this node, supervised like the kubelet's pod worker: init
 * containers in order, then the app containers together; restarts by the
 * pod's restartPolicy with a per-container back-off; lifecycle hooks and
 * probes; a re-adoption of the processes a previous agent process started.
 *
 * The decisions (restart or not, how long to wait, the pod phase) are the
 * pure functions at the top of this file; the class below only carries them
 * out and keeps the state that status() and record() read.
 */

// ------------------------------------------------------------ pure decisions

/** An init container that runs to completion, an init container with restartPolicy Always (a sidecar), or an app container. */
export type ContainerRole = "init" | "sidecar" | "app";

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A run at least this long resets the back-off. */
  resetAfterMs: number;
}

/** The kubelet's crash-loop back-off: 10 s doubling to 5 min, forgotten after 10 min of running. */
export const kubeletBackoff: BackoffPolicy = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

/**
 * Whether a container that ended is started again. Sidecars always are; an
 * init container is retried until it succeeds unless the pod's policy is
 * Never (its "Always" counts as OnFailure); app containers follow the pod's
 * policy. `failed` = a non-zero or unknown exit, or a run the agent ended
 * (failed liveness or startup probe, failed postStart hook).
 */
export function shouldRestart(role: ContainerRole, policy: RestartPolicy, failed: boolean): boolean {
  if (role === "sidecar") return true;
  if (role === "init") return failed && policy !== "Never";
  if (policy === "Always") return true;
  return policy === "OnFailure" && failed;
}

/**
 * The delay before restart number `step + 1` (`step` = restarts since the
 * last reset), and the next step.
 *
 * Deviation from the kubelet, on purpose: the FIRST restart after a reset is
 * immediate (delay 0) so a crashed process is back within the project's
 * one-second goal; only a container that crashes again waits 10 s, then
 * 20 s, 40 s … up to 5 min. (Recent kubelets also restart a first crash
 * practically at once; the back-off only bites from the second.) A run that
 * lasted `resetAfterMs` resets the sequence to that immediate restart.
 * Start failures (no process ran, ranMs 0) walk the same sequence.
 */
export function planRestart(step: number, ranMs: number, backoff: BackoffPolicy): { delayMs: number; step: number } {
  const from = ranMs >= backoff.resetAfterMs ? 0 : step;
  const delayMs = from === 0 ? 0 : Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(from - 1, 30));
  return { delayMs, step: from + 1 };
}

/** A duration as Go prints it (the kubelet's back-off message): "10s", "1m20s", "5m0s", "500ms". */
export function formatGoDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  const secondsText = `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3).replace(/0+$/, "")}s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}

export interface PhaseInput {
  /** A plain init container failed and will not be retried (restartPolicy Never). */
  initFailed: boolean;
  /** Every init container has completed (sidecars: started). */
  initDone: boolean;
  apps: { everRan: boolean; terminal: boolean; succeeded: boolean }[];
}

/**
 * Kubernetes' pod phase: Pending until the init containers are done and
 * every app container has been started once; Succeeded / Failed once every
 * app container has ended for good (all with success / at least one not);
 * Running otherwise (some app container runs or will be restarted).
 */
export function podPhase(input: PhaseInput): PodPhase {
  if (input.initFailed) return "Failed";
  if (input.apps.length > 0 && input.apps.every((app) => app.terminal)) {
    return input.apps.every((app) => app.succeeded) ? "Succeeded" : "Failed";
  }
  if (!input.initDone || input.apps.some((app) => !app.everRan && !app.terminal)) return "Pending";
  return "Running";
}

// ------------------------------------------------------------ the worker

export interface PodWorkerOptions {
  pod: AgentPod;
  /** `<stateDir>/pods/<uid>`; container logs at `<podDir>/logs/<container>.log`. */
  podDir: string;
  /** Where secret and Memory volumes go (tmpfs when the agent has one). */
  secretDir: string;
  /** persistentVolumeClaim directories. */
  claimsDir: string;
  agentId: string;
  /** "process" always; "docker"/"podman" where the node has them. */
  runtimes: ReadonlyMap<RuntimeName, ContainerRuntime>;
  hostIP: string;
  nodeName: string;
  clock: Clock;
  log: Logger;
  /** From the agent's state after an agent restart: these containers are adopted, not started again. */
  record?: PodRecord;
  /** Status or record changed: the agent persists record() and pushes status(). */
  onChange(): void;
  backoff?: BackoffPolicy;
  logLimits?: { maxBytes: number; maxFiles: number };
  usageIntervalMs?: number;
}

/** A postStart hook has this long (the kubelet has no bound; a hook that hangs would keep the container from ever starting). */
const postStartTimeoutMs = 120_000;
/** Probes and hooks reach a host process (and a published docker port) through the loopback address. */
const probeHost = "127.0.0.1";

interface Run {
  handle: ContainerHandle;
  startedAtMs: number;
  startedAt: string;
  /** Ends probes and hooks of this run. */
  abort: AbortController;
  /** Set when the agent ended the run (probe, hook): the run counts as failed, with this reason. */
  forced?: { reason: string; message: string };
  stopping?: Promise<ExitInfo>;
}

interface RunEnd {
  exit: ExitInfo;
  forced?: { reason: string; message: string };
  startedAt?: string;
  ranMs: number;
}

type StartFailure = { reason: string; message: string; startError: boolean };

/** Everything the worker knows about one container. */
class Slot {
  state: ContainerState;
  /** The termination before the current state, as status shows it. */
  lastState: ContainerState | undefined;
  /** The most recent termination (persisted as the record's lastState). */
  lastTermination: ContainerState | undefined;
  restartCount: number;
  succeeded: boolean;
  /** A process of this container has run at some point. */
  everRan: boolean;
  /** Will not run again. */
  terminal = false;
  started = false;
  ready = false;
  usage: ResourceUsage | undefined;
  backoffStep = 0;
  run: Run | undefined;
  /** Set by start() when the record names a live instance; null = it ended while the agent was away. */
  adopted: ContainerHandle | null | undefined;
  /** Delay before the loop's first launch (a restart decided before the loop began). */
  pendingDelayMs = 0;
  loop: Promise<void> | undefined;
  /** No more restarts (a sidecar once the app containers have all ended). */
  retired = false;
  /** Some run of it has started (postStart done, startup probe passed): the init sequence moves past a sidecar then. */
  hasStarted = false;
  readonly firstStarted: Promise<void>;
  #resolveStarted!: () => void;

  constructor(
    readonly container: Container,
    readonly role: ContainerRole,
    readonly runtimeName: RuntimeName,
    readonly runtime: ContainerRuntime | undefined,
    record: ContainerRunRecord | undefined,
    initialReason: string,
  ) {
    this.state = { waiting: { reason: initialReason } };
    this.restartCount = record?.restartCount ?? 0;
    this.succeeded = record?.succeeded ?? false;
    this.lastTermination = record?.lastState;
    this.everRan = record !== undefined && (record.current !== undefined || record.lastState !== undefined || record.restartCount > 0 || record.succeeded);
    this.firstStarted = new Promise((resolve) => (this.#resolveStarted = resolve));
  }

  markStarted(): void {
    this.started = true;
    this.hasStarted = true;
    this.#resolveStarted();
  }

  get name(): string {
    return this.container.name;
  }
}

export class PodWorker {
  readonly #options: PodWorkerOptions;
  readonly #pod: AgentPod;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #backoff: BackoffPolicy;
  readonly #initSlots: Slot[];
  readonly #appSlots: Slot[];
  readonly #lifetime = new AbortController();
  readonly #detachedSignal: Promise<"detached">;
  #markDetached!: () => void;
  #hostPorts: Record<string, number>;
  #volumes: Map<string, PreparedVolume> | undefined;
  #prepareError: StartFailure | undefined;
  #startTime: string | undefined;
  #initDone: boolean;
  #initFailed = false;
  /** No new processes, no restarts: stop() or detach() was called. */
  #halted = false;
  #detached = false;
  #stopDeadlineMs: number | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #podLoop: Promise<void> | undefined;
  #usageLoop: Promise<void> | undefined;

  constructor(options: PodWorkerOptions) {
    this.#options = options;
    this.#pod = options.pod;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#backoff = options.backoff ?? kubeletBackoff;
    this.#hostPorts = { ...(options.record?.hostPorts ?? {}) };
    this.#startTime = options.record?.startTime;
    this.#detachedSignal = new Promise((resolve) => (this.#markDetached = () => resolve("detached")));

    const records = options.record?.containers ?? {};
    const init = this.#pod.spec.initContainers ?? [];
    const slot = (container: Container, role: ContainerRole, initialReason: string): Slot => {
      const runtimeName = runtimeFor(container, options.runtimes);
      const record = records[container.name];
      const created = new Slot(container, role, runtimeName, options.runtimes.get(runtimeName), record, initialReason);
      this.#restoreFromRecord(created, record);
      return created;
    };
    this.#initSlots = init.map((container) => slot(container, container.restartPolicy === "Always" ? "sidecar" : "init", "PodInitializing"));
    this.#appSlots = this.#pod.spec.containers.map((container) => slot(container, "app", init.length > 0 ? "PodInitializing" : "ContainerCreating"));
    // Once an app container has run, the init containers are not run again (as the kubelet, until the sandbox is lost).
    this.#initDone = init.length === 0 || this.#appSlots.some((app) => app.everRan);
  }

  /**
   * Prepares ports and volumes, re-adopts the recorded containers, then runs
   * the pod in the background. Never throws for the pod's own faults: they
   * show in status().
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#startTime ??= this.#clock.now().toISOString();
    await this.#prepare();

    for (const slot of this.#slots()) {
      const current = this.#options.record?.containers[slot.name]?.current;
      if (!current) continue;
      const runtime = this.#options.runtimes.get(current.runtime);
      let handle: ContainerHandle | null = null;
      if (runtime) {
        handle = await runtime.adopt(current, this.#adoptionSpec(slot)).catch((error: unknown) => {
          this.#log.warn({ err: error, container: slot.name }, "could not re-adopt a container; treating it as ended");
          return null;
        });
      }
      if (handle) {
        const startedAtMs = Date.parse(current.startedAt);
        slot.run = newRun(handle, Number.isNaN(startedAtMs) ? this.#clock.now().getTime() : startedAtMs, current.startedAt);
        slot.state = { running: { startedAt: slot.run.startedAt } };
        slot.everRan = true;
        slot.adopted = handle;
        this.#log.info({ container: slot.name, pid: handle.record.pid }, "re-adopted a running container");
      } else {
        const startedAtMs = Date.parse(current.startedAt);
        slot.adopted = null;
        const delay = this.#afterExit(slot, {
          exit: { exitCode: null, reason: "Unknown", finishedAt: this.#clock.now() },
          startedAt: current.startedAt,
          ranMs: Number.isNaN(startedAtMs) ? 0 : this.#clock.now().getTime() - startedAtMs,
        });
        if (delay !== undefined) slot.pendingDelayMs = delay;
        this.#log.info({ container: slot.name }, "a recorded container ended while the agent was away");
      }
    }
    // Adopted containers are supervised at once, whatever the init sequence still has to do.
    for (const slot of this.#slots()) if (slot.adopted) this.#ensureLoop(slot);

    this.#podLoop = this.#runPod().catch((error: unknown) => this.#log.error({ err: error }, "the pod worker failed"));
    this.#usageLoop = this.#sampleUsage().catch((error: unknown) => this.#log.error({ err: error }, "usage sampling failed"));
    this.#notify();
  }

  /** Synchronous snapshot for the control plane. */
  status(): PodStatus {
    const phase = podPhase({ initFailed: this.#initFailed, initDone: this.#initDone, apps: this.#appSlots });
    const sidecars = this.#initSlots.filter((slot) => slot.role === "sidecar");
    const ready = phase === "Running" && [...this.#appSlots, ...sidecars].every((slot) => slot.ready);
    return {
      uid: this.#pod.uid,
      namespace: this.#pod.namespace,
      name: this.#pod.name,
      ...(this.#pod.commitSha !== undefined ? { commitSha: this.#pod.commitSha } : {}),
      phase,
      ready,
      ...(this.#startTime !== undefined ? { startTime: this.#startTime } : {}),
      initContainerStatuses: this.#initSlots.map((slot) => this.#containerStatus(slot)),
      containerStatuses: this.#appSlots.map((slot) => this.#containerStatus(slot)),
    };
  }

  /** What the agent persists: live instances (to re-adopt), restart counts, host ports. */
  record(): PodRecord {
    const containers: PodRecord["containers"] = {};
    for (const slot of this.#slots()) {
      containers[slot.name] = {
        ...(slot.run ? { current: slot.run.handle.record } : {}),
        restartCount: slot.restartCount,
        ...(slot.lastTermination ? { lastState: slot.lastTermination } : {}),
        succeeded: slot.succeeded,
      };
    }
    return {
      uid: this.#pod.uid,
      hostPorts: { ...this.#hostPorts },
      containers,
      ...(this.#startTime !== undefined ? { startTime: this.#startTime } : {}),
    };
  }

  /**
   * Ends the pod: no more restarts; preStop hooks, then SIGTERM (SIGKILL
   * once the grace period — default terminationGracePeriodSeconds — is
   * spent); app containers first, then sidecars in reverse order; then the
   * pod's volumes are removed unless `removeData` is false.
   */
  stop(options: { graceMs?: number; removeData?: boolean } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: { graceMs?: number; removeData?: boolean }): Promise<void> {
    const graceMs = options.graceMs ?? this.#pod.spec.terminationGracePeriodSeconds * 1000;
    this.#stopDeadlineMs = this.#clock.now().getTime() + graceMs;
    this.#halted = true;
    this.#lifetime.abort();
    await this.#starting?.catch(() => undefined);

    const first = [...this.#initSlots.filter((slot) => slot.role === "init"), ...this.#appSlots];
    await Promise.all(first.map((slot) => (slot.run ? this.#endRun(slot, slot.run) : undefined)));
    for (const slot of this.#initSlots.filter((candidate) => candidate.role === "sidecar").reverse()) {
      if (slot.run) await this.#endRun(slot, slot.run);
    }
    // Loops end once their process has; a launch that was under way is stopped by its loop.
    await Promise.all(this.#slots().map((slot) => slot.loop));
    await this.#podLoop;
    await this.#usageLoop;
    releaseHostPorts(this.#pod.uid);
    if (options.removeData ?? true) {
      await removePodVolumes({ podDir: this.#options.podDir, secretDir: this.#options.secretDir });
    }
    this.#notify();
  }

  /** Stops supervising (timers, probes, back-off) and leaves every process running: the agent is going away, its pods are not. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#halted = true;
    this.#lifetime.abort();
    this.#markDetached();
  }

  // ------------------------------------------------------------ the pod

  async #runPod(): Promise<void> {
    let step = 0;
    while (this.#volumes === undefined) {
      if (this.#halted) return;
      const plan = planRestart(step, 0, this.#backoff);
      step = plan.step;
      if (plan.delayMs > 0) await this.#clock.sleep(plan.delayMs, this.#lifetime.signal);
      if (this.#halted) return;
      await this.#prepare();
    }

    if (!this.#initDone) {
      for (const slot of this.#initSlots) {
        if (this.#halted) return;
        if (slot.role === "sidecar") {
          // The next init container starts once the sidecar has started (postStart done, startup probe passed).
          const loop = this.#ensureLoop(slot);
          await Promise.race([slot.firstStarted, loop, this.#detachedSignal, aborted(this.#lifetime.signal)]);
          if (!slot.hasStarted) return; // halted, or it cannot start (no runtime): the pod stays Pending
          continue;
        }
        if (!slot.succeeded && !slot.terminal) await this.#ensureLoop(slot);
        if (this.#halted) return;
        if (!slot.succeeded) {
          if (slot.terminal) {
            this.#initFailed = true;
            this.#log.info({ container: slot.name }, "an init container failed and the pod's restartPolicy is Never: the pod failed");
            await this.#retireSidecars();
            this.#notify();
          }
          return;
        }
      }
      this.#initDone = true;
    }
    for (const slot of this.#initSlots) if (slot.role === "sidecar") this.#ensureLoop(slot);
    for (const slot of this.#appSlots) {
      if (!slot.terminal && !slot.loop && !slot.run) slot.state = { waiting: { reason: "ContainerCreating" } };
    }
    this.#notify();
    await Promise.all(this.#appSlots.map((slot) => this.#ensureLoop(slot)));
    if (this.#halted || !this.#appSlots.every((slot) => slot.terminal)) return;
    // Every app container has ended for good (restartPolicy Never/OnFailure): the sidecars go too.
    await this.#retireSidecars();
    this.#notify();
  }

  async #retireSidecars(): Promise<void> {
    for (const slot of this.#initSlots.filter((candidate) => candidate.role === "sidecar").reverse()) {
      slot.retired = true;
      if (slot.run) await this.#endRun(slot, slot.run);
      await slot.loop;
    }
  }

  /** Host ports and volumes; a failure shows in every container's waiting state and is retried by #runPod. */
  async #prepare(): Promise<void> {
    try {
      await mkdir(join(this.#options.podDir, "logs"), { recursive: true });
      this.#hostPorts = await allocateHostPorts(this.#pod, this.#options.hostIP, this.#hostPorts);
      this.#volumes = await prepareVolumes({
        pod: this.#pod,
        podDir: this.#options.podDir,
        secretDir: this.#options.secretDir,
        claimsDir: this.#options.claimsDir,
      });
      if (this.#prepareError) {
        this.#prepareError = undefined;
        for (const slot of this.#slots()) {
          if (!slot.run && !slot.terminal) slot.state = { waiting: { reason: slot.role === "app" && this.#initSlots.length === 0 ? "ContainerCreating" : "PodInitializing" } };
        }
        this.#notify();
      }
    } catch (error) {
      const failure = startFailure(error);
      if (failure.message !== this.#prepareError?.message) this.#log.warn({ err: error }, "could not prepare the pod's ports and volumes");
      this.#prepareError = failure;
      for (const slot of this.#slots()) {
        if (!slot.run && !slot.terminal) slot.state = { waiting: { reason: failure.reason, message: failure.message } };
      }
      this.#notify();
    }
  }

  // ------------------------------------------------------------ one container

  #ensureLoop(slot: Slot): Promise<void> {
    if (!slot.loop) {
      slot.loop = this.#supervise(slot).catch((error: unknown) => {
        this.#log.error({ err: error, container: slot.name }, "supervising a container failed");
      });
    }
    return slot.loop;
  }

  /** Runs the container, again and again as its role and the restart policy say, until it ends for good or the worker halts. */
  async #supervise(slot: Slot): Promise<void> {
    let adopted = slot.adopted ?? undefined;
    slot.adopted = undefined;
    let delayMs = slot.pendingDelayMs;
    slot.pendingDelayMs = 0;
    if (slot.terminal) return;
    for (;;) {
      let run = adopted ? slot.run : undefined;
      if (!run) {
        if (this.#halted) return;
        if (delayMs > 0) {
          await this.#clock.sleep(delayMs, this.#lifetime.signal);
          if (this.#halted) return;
        }
        const launched = await this.#launch(slot);
        if (launched === "detached") return;
        if ("reason" in launched) {
          const next = this.#afterStartFailure(slot, launched);
          if (next === undefined) return;
          delayMs = next;
          continue;
        }
        run = launched;
      }
      const end = await this.#watch(slot, run, adopted !== undefined);
      adopted = undefined;
      if (!end) return;
      const next = this.#afterExit(slot, end);
      if (next === undefined) return;
      delayMs = next;
    }
  }

  async #launch(slot: Slot): Promise<Run | StartFailure | "detached"> {
    if (!slot.runtime) {
      const message = slot.container.image
        ? `image ${slot.container.image} needs docker or podman, and this node has neither`
        : `this node has no ${slot.runtimeName} runtime`;
      return { reason: "RuntimeUnavailable", message, startError: false };
    }
    let handle: ContainerHandle;
    try {
      handle = await slot.runtime.start(this.#launchSpec(slot));
    } catch (error) {
      return startFailure(error);
    }
    if (this.#detached) {
      // Nobody will record or supervise it: the agent that saved our record is going away.
      void handle.stop(0);
      return "detached";
    }
    if (slot.everRan) slot.restartCount += 1;
    slot.everRan = true;
    const now = this.#clock.now();
    const run = newRun(handle, now.getTime(), now.toISOString());
    slot.run = run;
    slot.state = { running: { startedAt: run.startedAt } };
    slot.started = false;
    slot.ready = false;
    this.#log.info({ container: slot.name, pid: handle.record.pid, restartCount: slot.restartCount }, "started a container");
    // Persist before anything else can happen: a process the record does not name would be orphaned by an agent crash.
    this.#notify();
    return run;
  }

  /** Hooks and probes of one run, then its end; undefined when the worker detached meanwhile. */
  async #watch(slot: Slot, run: Run, adopted: boolean): Promise<RunEnd | undefined> {
    if (this.#halted && !this.#detached) void this.#endRun(slot, run);
    const signal = AbortSignal.any([run.abort.signal, this.#lifetime.signal]);
    void this.#checkRun(slot, run, adopted, signal).catch((error: unknown) =>
      this.#log.error({ err: error, container: slot.name }, "probing a container failed"),
    );
    const exit = await Promise.race([run.handle.exited, this.#detachedSignal]);
    run.abort.abort();
    if (exit === "detached") return undefined;
    return { exit, forced: run.forced, startedAt: run.startedAt, ranMs: this.#clock.now().getTime() - run.startedAtMs };
  }

  /** postStart, then the startup probe, then liveness and readiness until the run ends. */
  async #checkRun(slot: Slot, run: Run, adopted: boolean, signal: AbortSignal): Promise<void> {
    const { container } = slot;
    const target = this.#probeTarget(slot, run.handle);
    if (!adopted && container.lifecycle?.postStart) {
      const outcome = await runHook(container.lifecycle.postStart, target, postStartTimeoutMs, this.#clock, signal);
      if (signal.aborted) return;
      if (!outcome.ok) {
        this.#log.warn({ container: slot.name, message: outcome.message }, "postStart hook failed: killing the container");
        await this.#endRun(slot, run, { reason: "PostStartHookError", message: `PostStartHook failed: ${outcome.message ?? ""}`.trim() });
        return;
      }
    }
    // A container adopted from a previous agent process had started already (the kubelet assumes the same after its restart).
    if (!adopted && container.startupProbe) {
      const passed = await this.#probeLoop(slot, run, "startup", container.startupProbe, signal);
      if (!passed) return;
    }
    if (signal.aborted) return;
    // Without a readiness probe a started container is ready; an adopted one keeps being ready until its probe says otherwise.
    slot.ready = !container.readinessProbe || adopted;
    slot.markStarted();
    this.#notify();
    if (container.livenessProbe) void this.#probeLoop(slot, run, "liveness", container.livenessProbe, signal);
    if (container.readinessProbe) void this.#probeLoop(slot, run, "readiness", container.readinessProbe, signal);
  }

  /**
   * One probe, on its schedule, until the run ends. Startup: resolves true on
   * success; failure ends the run. Liveness: failure ends the run.
   * Readiness: sets `ready`.
   */
  async #probeLoop(slot: Slot, run: Run, kind: "startup" | "liveness" | "readiness", probe: Probe, signal: AbortSignal): Promise<boolean> {
    const initial = kind === "readiness" ? (slot.ready ? "success" : "failure") : kind === "liveness" ? "success" : "unknown";
    const state = new ProbeState(probe, initial);
    const target = this.#probeTarget(slot, run.handle);
    for (let first = true; ; first = false) {
      const runningForMs = Math.max(0, this.#clock.now().getTime() - run.startedAtMs);
      const delay = probeDelayMs(probe, { first, runningForMs });
      if (delay > 0) await this.#clock.sleep(delay, signal);
      if (signal.aborted) return false;
      const outcome = await runProbe(probe, target, probe.timeoutSeconds * 1000);
      if (signal.aborted) return false;
      const changed = state.observe(outcome.ok);
      if (kind === "readiness") {
        if (changed) {
          slot.ready = state.result === "success";
          this.#log.info({ container: slot.name, ready: slot.ready, message: outcome.message }, "readiness changed");
          this.#notify();
        }
        continue;
      }
      if (kind === "startup" && state.result === "success") return true;
      if (state.result === "failure") {
        const label = kind === "startup" ? "Startup" : "Liveness";
        const message = `${label} probe failed: ${outcome.message ?? ""}`.trim();
        this.#log.warn({ container: slot.name, message }, `${kind} probe failed ${probe.failureThreshold} times: restarting the container`);
        await this.#endRun(slot, run, { reason: "Error", message });
        return false;
      }
    }
  }

  /** preStop, then SIGTERM and SIGKILL after the grace period (the pod's stop deadline when stopping). Idempotent per run. */
  #endRun(slot: Slot, run: Run, forced?: { reason: string; message: string }): Promise<ExitInfo> {
    if (forced && !run.forced && !this.#halted) run.forced = forced;
    run.stopping ??= (async () => {
      const deadline = this.#stopDeadlineMs ?? this.#clock.now().getTime() + this.#pod.spec.terminationGracePeriodSeconds * 1000;
      const preStop = slot.container.lifecycle?.preStop;
      if (preStop) {
        const outcome = await runHook(preStop, this.#probeTarget(slot, run.handle), Math.max(0, deadline - this.#clock.now().getTime()), this.#clock);
        if (!outcome.ok) this.#log.warn({ container: slot.name, message: outcome.message }, "preStop hook failed");
      }
      return run.handle.stop(Math.max(0, deadline - this.#clock.now().getTime()));
    })();
    return run.stopping;
  }

  /** Records an ended run; the delay before the restart, or undefined when there is none. */
  #afterExit(slot: Slot, end: RunEnd): number | undefined {
    const { exit, forced } = end;
    slot.run = undefined;
    slot.started = false;
    slot.ready = false;
    slot.usage = undefined;
    const failed = forced !== undefined || exit.exitCode !== 0;
    const terminated: ContainerState = {
      terminated: {
        exitCode: exit.exitCode,
        ...(exit.signal ? { signal: exit.signal } : {}),
        reason: forced?.reason ?? exit.reason,
        ...(forced ? { message: forced.message } : {}),
        ...(end.startedAt ? { startedAt: end.startedAt } : {}),
        finishedAt: this.#clock.now().toISOString(),
      },
    };
    const previous = slot.lastTermination;
    slot.lastTermination = terminated;
    if (!failed && (slot.role === "init" || (slot.role === "app" && this.#pod.spec.restartPolicy !== "Always"))) slot.succeeded = true;
    this.#log.info({ container: slot.name, exitCode: exit.exitCode, signal: exit.signal, reason: forced?.reason ?? exit.reason }, "a container ended");

    const restart = !slot.retired && shouldRestart(slot.role, this.#pod.spec.restartPolicy, failed);
    if (this.#halted || !restart) {
      slot.terminal = !restart;
      slot.state = terminated;
      slot.lastState = previous;
      this.#notify();
      return undefined;
    }
    const plan = planRestart(slot.backoffStep, end.ranMs, this.#backoff);
    slot.backoffStep = plan.step;
    slot.lastState = terminated;
    slot.state =
      plan.delayMs > 0
        ? {
            waiting: {
              reason: "CrashLoopBackOff",
              message: `back-off ${formatGoDuration(plan.delayMs)} restarting failed container=${slot.name} pod=${this.#pod.namespace}/${this.#pod.name}`,
            },
          }
        : { waiting: { reason: "ContainerCreating" } };
    this.#notify();
    return plan.delayMs;
  }

  /**
   * A launch that failed. Configuration errors and runtime refusals wait
   * with their reason and are retried on the same back-off as crashes (the
   * pod is immutable, so a config error only clears if the node changes: a
   * hostPath appears, a port is freed — cheap to retry, so no slower
   * schedule). A command that cannot run under restartPolicy Never is a
   * failed run (terminated, StartError, 128, as containerd reports it), so
   * a Job with a typo fails instead of hanging.
   */
  #afterStartFailure(slot: Slot, failure: StartFailure): number | undefined {
    if (failure.reason === "RuntimeUnavailable") {
      slot.state = { waiting: { reason: failure.reason, message: failure.message } };
      this.#notify();
      return undefined;
    }
    if (this.#halted) return undefined;
    if (!("waiting" in slot.state && slot.state.waiting.message === failure.message)) {
      this.#log.warn({ container: slot.name, reason: failure.reason, message: failure.message }, "could not start a container");
    }
    if (failure.startError && !shouldRestart(slot.role, this.#pod.spec.restartPolicy, true)) {
      const terminated: ContainerState = {
        terminated: { exitCode: 128, reason: "StartError", message: failure.message, finishedAt: this.#clock.now().toISOString() },
      };
      slot.lastState = slot.lastTermination;
      slot.lastTermination = terminated;
      slot.state = terminated;
      slot.terminal = true;
      this.#notify();
      return undefined;
    }
    const plan = planRestart(slot.backoffStep, 0, this.#backoff);
    slot.backoffStep = plan.step;
    slot.state = { waiting: { reason: failure.reason, message: failure.message } };
    this.#notify();
    return plan.delayMs;
  }

  /** A container's state as the record left it (after an agent restart): done, or due for a restart. */
  #restoreFromRecord(slot: Slot, record: ContainerRunRecord | undefined): void {
    if (!record || record.current) return;
    const policy = this.#pod.spec.restartPolicy;
    if (record.succeeded && slot.role !== "sidecar" && !(slot.role === "app" && policy === "Always")) {
      slot.terminal = true;
      slot.state = record.lastState ?? { terminated: { exitCode: 0, reason: "Completed", finishedAt: this.#clock.now().toISOString() } };
      return;
    }
    if (!record.lastState) return;
    if (!shouldRestart(slot.role, policy, !record.succeeded)) {
      slot.terminal = true;
      slot.state = record.lastState;
      return;
    }
    // It ended and was waiting for its restart when the agent stopped: restart at once.
    slot.lastState = record.lastState;
  }

  // ------------------------------------------------------------ launch specs

  #launchSpec(slot: Slot): LaunchSpec {
    const { container } = slot;
    if (!container.image && (container.command ?? []).length === 0) {
      throw new PodConfigError("CreateContainerError", `container ${container.name} has no command: a process container needs one (only an image has an entrypoint)`);
    }
    const { env, argv } = buildContainerEnv({
      pod: this.#pod,
      container,
      // Inside an image container the process listens on its containerPort (the engine maps the host port to it).
      hostPorts: container.image ? containerPortsAsSeenInside(container) : this.#hostPorts,
      hostIP: this.#options.hostIP,
      nodeName: this.#options.nodeName,
    });
    return {
      ...this.#specBase(slot),
      argv,
      env,
      mounts: this.#volumes ? containerMounts(container, this.#volumes) : [],
      ports: portBindings(container, this.#hostPorts),
    };
  }

  /** For adoption: the full spec when it can be built, else enough to supervise the process (probes' exec may lack env and mounts). */
  #adoptionSpec(slot: Slot): LaunchSpec {
    try {
      return this.#launchSpec(slot);
    } catch {
      return { ...this.#specBase(slot), argv: [], env: {}, mounts: [], ports: [] };
    }
  }

  #specBase(slot: Slot): Omit<LaunchSpec, "argv" | "env" | "mounts" | "ports"> {
    const { container } = slot;
    const limits = container.resources?.limits;
    const workingDir = this.#workingDir(container);
    return {
      id: `${this.#pod.uid}.${container.name}`,
      agentId: this.#options.agentId,
      podUid: this.#pod.uid,
      namespace: this.#pod.namespace,
      podName: this.#pod.name,
      containerName: container.name,
      ...(container.image ? { image: container.image } : {}),
      ...(workingDir ? { workingDir } : {}),
      logPath: this.#logPath(slot),
      ...(limits?.cpu !== undefined || limits?.memory !== undefined
        ? {
            limits: {
              ...(limits.cpu !== undefined ? { cpuMillis: parseCpuMillis(limits.cpu) } : {}),
              ...(limits.memory !== undefined ? { memoryBytes: parseBytes(limits.memory) } : {}),
            },
          }
        : {}),
    };
  }

  /**
   * Absolute as it is; relative against the pod's workingDirBase (the
   * repository checkout) or its own directory. A host process without one
   * runs in that base; an image without one keeps its own WORKDIR.
   */
  #workingDir(container: Container): string | undefined {
    const base = this.#pod.workingDirBase ?? this.#options.podDir;
    if (container.workingDir === undefined) return container.image ? undefined : base;
    if (isAbsolute(container.workingDir)) return container.workingDir;
    return container.image ? resolve("/", container.workingDir) : resolve(base, container.workingDir);
  }

  #logPath(slot: Slot): string {
    return join(this.#options.podDir, "logs", `${slot.name}.log`);
  }

  #probeTarget(slot: Slot, handle: ContainerHandle): ProbeTarget {
    return { host: probeHost, hostPorts: this.#hostPorts, containerName: slot.name, ports: slot.container.ports, handle };
  }

  // ------------------------------------------------------------ status

  #containerStatus(slot: Slot): ContainerStatus {
    const ports: Record<string, number> = {};
    for (const port of slot.container.ports ?? []) {
      const hostPort = this.#hostPorts[hostPortKey(slot.name, port)] ?? port.hostPort;
      if (hostPort !== undefined) ports[port.name ?? String(port.containerPort)] = hostPort;
    }
    const pid = slot.run?.handle.record.pid;
    return {
      name: slot.name,
      runtime: slot.runtimeName,
      state: slot.state,
      ...(slot.lastState ? { lastState: slot.lastState } : {}),
      ready: slot.run !== undefined && slot.ready,
      started: slot.run !== undefined && slot.started,
      restartCount: slot.restartCount,
      ports,
      ...(pid !== undefined ? { pid } : {}),
      ...(slot.usage ? { usage: slot.usage } : {}),
    };
  }

  /** CPU and memory of every running container, and log rotation, every usageIntervalMs. */
  async #sampleUsage(): Promise<void> {
    const intervalMs = this.#options.usageIntervalMs ?? 10_000;
    const limits = this.#options.logLimits ?? { maxBytes: DEFAULT_LOG_MAX_BYTES, maxFiles: DEFAULT_LOG_MAX_FILES };
    const signal = this.#lifetime.signal;
    while (!signal.aborted) {
      await this.#clock.sleep(intervalMs, signal);
      if (signal.aborted) return;
      let sampled = false;
      for (const slot of this.#slots()) {
        const run = slot.run;
        if (run) {
          const usage = await run.handle.usage().catch(() => undefined);
          if (slot.run === run && !signal.aborted) {
            slot.usage = usage;
            sampled = true;
          }
        }
        if (slot.everRan) {
          await rotateLog(this.#logPath(slot), limits).catch((error: unknown) =>
            this.#log.warn({ err: error, container: slot.name }, "could not rotate a container log"),
          );
        }
      }
      if (sampled && !signal.aborted) this.#notify();
    }
  }

  #slots(): Slot[] {
    return [...this.#initSlots, ...this.#appSlots];
  }

  #notify(): void {
    if (this.#detached) return;
    try {
      this.#options.onChange();
    } catch (error) {
      this.#log.error({ err: error }, "a pod change listener threw");
    }
  }
}

/** An image runs in docker, else podman; a host process in "process". */
function runtimeFor(container: Container, runtimes: ReadonlyMap<RuntimeName, ContainerRuntime>): RuntimeName {
  if (!container.image) return "process";
  return runtimes.has("docker") || !runtimes.has("podman") ? "docker" : "podman";
}

function newRun(handle: ContainerHandle, startedAtMs: number, startedAt: string): Run {
  return { handle, startedAtMs, startedAt, abort: new AbortController() };
}

function startFailure(error: unknown): StartFailure {
  if (error instanceof ContainerStartError) return { reason: error.reason, message: error.message, startError: true };
  if (error instanceof PodConfigError) return { reason: error.reason, message: error.message, startError: false };
  return { reason: "RunContainerError", message: messageOf(error), startError: false };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** PORT / PORT_<NAME> for an image container: the container ports themselves, keyed like host ports. */
function containerPortsAsSeenInside(container: Container): Record<string, number> {
  return Object.fromEntries((container.ports ?? []).map((port) => [hostPortKey(container.name, port), port.containerPort]));
}
