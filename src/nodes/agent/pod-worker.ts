import { rm } from "node:fs/promises";
import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { AgentPod, PodStatus, RuntimeName } from "../protocol.ts";
import { podSlots, type Slot } from "./container-slot.ts";
import { ContainerSupervisor } from "./container-supervisor.ts";
import { adoptionSpec, launchSpec, type LaunchContext } from "./launch-spec.ts";
import { activeDeadlineRemainingMs, kubeletBackoff, planRestart, type BackoffPolicy } from "./pod-lifecycle.ts";
import type { PodRecord } from "./pod-record.ts";
import { PodPreparation } from "./pod-preparation.ts";
import { podRecord, podStatus, type PodSnapshotInput } from "./pod-snapshot.ts";
import { releaseHostPorts } from "./ports.ts";
import type { ContainerRuntime } from "./runtime/types.ts";
import { sampleUsage } from "./usage-sampler.ts";
import { removePodVolumes } from "./volumes.ts";

// The pure decisions moved to pod-lifecycle.ts; they are still importable from here.
export { activeDeadlineRemainingMs, formatGoDuration, kubeletBackoff, planRestart, podPhase, shouldRestart, type BackoffPolicy, type ContainerRole, type PhaseInput } from "./pod-lifecycle.ts";

/**
 * One pod on this node, supervised like the kubelet's pod worker: init
 * containers in order, then the app containers together; restarts by the
 * pod's restartPolicy with a per-container back-off; lifecycle hooks and
 * probes; a re-adoption of the processes a previous agent process started.
 *
 * The decisions (restart or not, how long to wait, the pod phase) are the
 * pure functions of pod-lifecycle.ts; each container's run loop is
 * container-supervisor.ts; its launch spec, launch-spec.ts; host ports,
 * hosts file and volumes, pod-preparation.ts; status() and record(),
 * pod-snapshot.ts. The class below orders the pod (preparation, init
 * containers, then the app containers and sidecars, stop and detach) and
 * keeps the state those snapshots read.
 */

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
  /** Service discovery variables for a container starting now (the Services of the pod's namespace). */
  serviceEnv?: () => Record<string, string>;
  backoff?: BackoffPolicy;
  logLimits?: { maxBytes: number; maxFiles: number };
  usageIntervalMs?: number;
}

export class PodWorker {
  readonly #options: PodWorkerOptions;
  /** Replaced by updateConfig() when only its ConfigMap/Secret data changes; the spec stays. */
  #pod: AgentPod;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #backoff: BackoffPolicy;
  readonly #supervisor: ContainerSupervisor;
  readonly #initSlots: Slot[];
  readonly #appSlots: Slot[];
  readonly #lifetime = new AbortController();
  /** Aborted (and replaced) when new config data arrives: a wait on a config error is cut short. */
  #retryNow = new AbortController();
  readonly #detachedSignal: Promise<"detached">;
  #markDetached!: () => void;
  /** Host ports, hosts file and volumes: made before any container launches, read by every launch. */
  readonly #preparation: PodPreparation;
  #startTime: string | undefined;
  #initDone: boolean;
  #initFailed = false;
  /** activeDeadlineSeconds was spent: the containers were stopped and the pod failed. */
  #deadlineExceeded = false;
  /** No new processes, no restarts: stop() or detach() was called. */
  #halted = false;
  #detached = false;
  #stopDeadlineMs: number | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #podLoop: Promise<void> | undefined;
  #usageLoop: Promise<void> | undefined;
  #deadlineLoop: Promise<void> | undefined;

  constructor(options: PodWorkerOptions) {
    this.#options = options;
    this.#pod = options.pod;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#backoff = options.backoff ?? kubeletBackoff;
    this.#preparation = new PodPreparation({
      podDir: options.podDir,
      secretDir: options.secretDir,
      claimsDir: options.claimsDir,
      hostIP: options.hostIP,
      hostPorts: options.record?.hostPorts ?? {},
      log: this.#log,
    });
    this.#startTime = options.record?.startTime;
    this.#detachedSignal = new Promise((resolve) => (this.#markDetached = () => resolve("detached")));
    this.#supervisor = new ContainerSupervisor({
      pod: this.#pod,
      clock: this.#clock,
      log: this.#log,
      backoff: this.#backoff,
      lifetime: this.#lifetime.signal,
      detachedSignal: this.#detachedSignal,
      halted: () => this.#halted,
      detached: () => this.#detached,
      stopDeadlineMs: () => this.#stopDeadlineMs,
      retrySignal: () => this.#retryNow.signal,
      hostPorts: () => this.#preparation.hostPorts,
      launchSpec: (slot) => launchSpec(this.#launchContext(), slot.container),
      adoptionSpec: (slot) => adoptionSpec(this.#launchContext(), slot.container),
      notify: () => this.#notify(),
    });

    const slots = podSlots(this.#pod, options.runtimes, options.record, this.#clock);
    this.#initSlots = slots.initSlots;
    this.#appSlots = slots.appSlots;
    // Once an app container has run, the init containers are not run again (as the kubelet, until the sandbox is lost).
    this.#initDone = this.#initSlots.length === 0 || this.#appSlots.some((app) => app.everRan);
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
      await this.#supervisor.adopt(slot, current, this.#options.runtimes.get(current.runtime));
    }
    // Adopted containers are supervised at once, whatever the init sequence still has to do.
    for (const slot of this.#slots()) if (slot.adopted) this.#supervisor.ensureLoop(slot);

    // Counted from the pod's first start: a deadline spent while the agent was away ends the pod before anything runs again.
    if (activeDeadlineRemainingMs(this.#startTime, this.#pod.spec.activeDeadlineSeconds, this.#clock.now()) === 0) {
      await this.#exceedDeadline();
      return;
    }
    this.#deadlineLoop = this.#watchDeadline().catch((error: unknown) => this.#log.error({ err: error }, "the active deadline watch failed"));
    this.#podLoop = this.#runPod().catch((error: unknown) => this.#log.error({ err: error }, "the pod worker failed"));
    this.#usageLoop = sampleUsage({
      slots: this.#slots(),
      podDir: this.#options.podDir,
      clock: this.#clock,
      log: this.#log,
      usageIntervalMs: this.#options.usageIntervalMs,
      logLimits: this.#options.logLimits,
      signal: this.#lifetime.signal,
      notify: () => this.#notify(),
    }).catch((error: unknown) => this.#log.error({ err: error }, "usage sampling failed"));
    this.#notify();
  }

  /** Synchronous snapshot for the control plane. */
  status(): PodStatus {
    return podStatus(this.#snapshotInput());
  }

  /** What the agent persists: live instances (to re-adopt), restart counts, host ports. */
  record(): PodRecord {
    return podRecord(this.#snapshotInput());
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
    await this.#endContainers();
    await this.#deadlineLoop;
    releaseHostPorts(this.#pod.uid);
    if (options.removeData ?? true) {
      await removePodVolumes({ podDir: this.#options.podDir, secretDir: this.#options.secretDir });
      // Its logs go with it, as a deleted pod's do in Kubernetes: otherwise every rollout leaves 50 MiB behind.
      await rm(this.#options.podDir, { recursive: true, force: true });
    }
    this.#notify();
  }

  /** Every run ended (app containers and init containers first, then sidecars in reverse order), and every loop with it. */
  async #endContainers(): Promise<void> {
    const first = [...this.#initSlots.filter((slot) => slot.role === "init"), ...this.#appSlots];
    await Promise.all(first.map((slot) => (slot.run ? this.#supervisor.endRun(slot, slot.run) : undefined)));
    for (const slot of this.#initSlots.filter((candidate) => candidate.role === "sidecar").reverse()) {
      if (slot.run) await this.#supervisor.endRun(slot, slot.run);
    }
    // Loops end once their process has; a launch that was under way is stopped by its loop.
    await Promise.all(this.#slots().map((slot) => slot.loop));
    await this.#podLoop;
    await this.#usageLoop;
  }

  /** Waits out activeDeadlineSeconds (on the injected clock), then fails the pod. */
  async #watchDeadline(): Promise<void> {
    const remainingMs = activeDeadlineRemainingMs(this.#startTime, this.#pod.spec.activeDeadlineSeconds, this.#clock.now());
    if (remainingMs === undefined) return;
    await this.#clock.sleep(remainingMs, this.#lifetime.signal);
    if (this.#halted) return;
    // A pod whose containers all ended for good is over already; the deadline only stops one still active.
    if (this.#appSlots.every((slot) => slot.terminal) || this.#initFailed) return;
    await this.#exceedDeadline();
  }

  /**
   * As the kubelet's active deadline handler: the pod fails with reason
   * DeadlineExceeded and its containers are stopped with their grace period
   * (preStop, SIGTERM, SIGKILL), restarted by nothing. Its data stays until
   * the pod is removed, like any failed pod's.
   */
  async #exceedDeadline(): Promise<void> {
    this.#deadlineExceeded = true;
    this.#stopDeadlineMs = this.#clock.now().getTime() + this.#pod.spec.terminationGracePeriodSeconds * 1000;
    this.#halted = true;
    this.#lifetime.abort();
    this.#log.info({ activeDeadlineSeconds: this.#pod.spec.activeDeadlineSeconds }, "the pod's active deadline is spent: stopping it");
    this.#notify();
    await this.#endContainers();
    this.#notify();
  }

  /**
   * New ConfigMap/Secret data for this same pod. As the kubelet reads them at
   * each launch: what starts from now on (a container blocked on a missing
   * key, a restart, volumes not yet prepared) uses the new data, and a wait
   * on a config error is cut short; running processes keep what they started
   * with, and prepared volumes are not rewritten under them.
   */
  updateConfig(pod: AgentPod): void {
    this.#pod = pod;
    const previous = this.#retryNow;
    this.#retryNow = new AbortController();
    previous.abort();
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
    while (this.#preparation.volumes === undefined) {
      if (this.#halted) return;
      const plan = planRestart(step, 0, this.#backoff);
      step = plan.step;
      if (plan.delayMs > 0) await this.#clock.sleep(plan.delayMs, AbortSignal.any([this.#lifetime.signal, this.#retryNow.signal]));
      if (this.#halted) return;
      await this.#prepare();
    }

    if (!this.#initDone) {
      for (const slot of this.#initSlots) {
        if (this.#halted) return;
        if (slot.role === "sidecar") {
          // The next init container starts once the sidecar has started (postStart done, startup probe passed).
          const loop = this.#supervisor.ensureLoop(slot);
          await Promise.race([slot.firstStarted, loop, this.#detachedSignal, aborted(this.#lifetime.signal)]);
          if (!slot.hasStarted) return; // halted, or it cannot start (no runtime): the pod stays Pending
          continue;
        }
        if (!slot.succeeded && !slot.terminal) await this.#supervisor.ensureLoop(slot);
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
    for (const slot of this.#initSlots) if (slot.role === "sidecar") this.#supervisor.ensureLoop(slot);
    for (const slot of this.#appSlots) {
      if (!slot.terminal && !slot.loop && !slot.run) slot.state = { waiting: { reason: "ContainerCreating" } };
    }
    this.#notify();
    await Promise.all(this.#appSlots.map((slot) => this.#supervisor.ensureLoop(slot)));
    if (this.#halted || !this.#appSlots.every((slot) => slot.terminal)) return;
    // Every app container has ended for good (restartPolicy Never/OnFailure): the sidecars go too.
    await this.#retireSidecars();
    this.#notify();
  }

  async #retireSidecars(): Promise<void> {
    for (const slot of this.#initSlots.filter((candidate) => candidate.role === "sidecar").reverse()) {
      slot.retired = true;
      if (slot.run) await this.#supervisor.endRun(slot, slot.run);
      await slot.loop;
    }
  }

  /** Host ports, the hosts file and volumes; a failure shows in every container's waiting state and is retried by #runPod. */
  async #prepare(): Promise<void> {
    const outcome = await this.#preparation.run(this.#pod);
    if (outcome.type === "failed") {
      const { failure } = outcome;
      for (const slot of this.#slots()) {
        if (!slot.run && !slot.terminal) slot.state = { waiting: { reason: failure.reason, message: failure.message } };
      }
      this.#notify();
    } else if (outcome.recovered) {
      for (const slot of this.#slots()) {
        if (!slot.run && !slot.terminal) slot.state = { waiting: { reason: slot.role === "app" && this.#initSlots.length === 0 ? "ContainerCreating" : "PodInitializing" } };
      }
      this.#notify();
    }
  }

  #launchContext(): LaunchContext {
    return {
      pod: this.#pod,
      agentId: this.#options.agentId,
      hostIP: this.#options.hostIP,
      nodeName: this.#options.nodeName,
      podDir: this.#options.podDir,
      hostPorts: this.#preparation.hostPorts,
      volumes: this.#preparation.volumes,
      serviceEnv: this.#options.serviceEnv?.() ?? {},
      ...(this.#preparation.hostsFile ? { hostsFile: this.#preparation.hostsFile } : {}),
    };
  }

  #snapshotInput(): PodSnapshotInput {
    return {
      pod: this.#pod,
      initSlots: this.#initSlots,
      appSlots: this.#appSlots,
      hostPorts: this.#preparation.hostPorts,
      startTime: this.#startTime,
      initDone: this.#initDone,
      initFailed: this.#initFailed,
      deadlineExceeded: this.#deadlineExceeded,
    };
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

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
