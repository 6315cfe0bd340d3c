import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { AgentPod, ContainerState } from "../protocol.ts";
import { newRun, startFailure, type Run, type RunEnd, type Slot, type StartFailure } from "./container-slot.ts";
import { runHook } from "./hooks.ts";
import { formatGoDuration, planRestart, shouldRestart, type BackoffPolicy } from "./pod-lifecycle.ts";
import { RunChecks } from "./run-checks.ts";
import type { ContainerHandle, ContainerRecord, ContainerRuntime, ExitInfo, LaunchSpec } from "./runtime/types.ts";

/**
 * The run loop of each container of a pod: launch (or re-adopt) a process,
 * watch it (its hooks and probes are run-checks.ts), end it (preStop, then
 * the stop signals), and record its end and the back-off before the next
 * launch, as the container's role and the pod's restartPolicy say. One
 * supervisor serves every container of a pod worker; the pod-level state
 * (halted, detached, host ports, the stop deadline) stays the worker's and
 * is read through the host.
 */

/** What the supervisor reads from and tells its pod worker. */
export interface SupervisorHost {
  pod: AgentPod;
  clock: Clock;
  log: Logger;
  backoff: BackoffPolicy;
  /** Aborted when the worker halts: back-off waits, probes and hooks end. */
  lifetime: AbortSignal;
  /** Resolves when the worker detaches. */
  detachedSignal: Promise<"detached">;
  /** No new processes, no restarts: stop() or detach() was called. */
  halted(): boolean;
  detached(): boolean;
  /** Set by stop(): every run ends by then. */
  stopDeadlineMs(): number | undefined;
  /** Aborted when new config data arrives: a container waiting on a config error tries again at once. */
  retrySignal(): AbortSignal;
  /** The pod's host ports, by hostPortKey. */
  hostPorts(): Record<string, number>;
  launchSpec(slot: Slot): LaunchSpec;
  /** The launch spec, or what can be had of it, of a container being re-adopted. */
  adoptionSpec(slot: Slot): LaunchSpec;
  /** Status or record changed. */
  notify(): void;
}

/** Waiting reasons that new ConfigMap/Secret data may clear. */
const configErrorReasons = new Set(["CreateContainerConfigError", "CreateContainerError"]);

export class ContainerSupervisor {
  readonly #host: SupervisorHost;
  readonly #pod: AgentPod;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #backoff: BackoffPolicy;
  readonly #checks: RunChecks;

  constructor(host: SupervisorHost) {
    this.#host = host;
    this.#pod = host.pod;
    this.#clock = host.clock;
    this.#log = host.log;
    this.#backoff = host.backoff;
    this.#checks = new RunChecks({
      clock: host.clock,
      log: host.log,
      hostPorts: () => host.hostPorts(),
      notify: () => host.notify(),
      endRun: (slot, run, forced) => this.endRun(slot, run, forced),
    });
  }

  /**
   * A container the record names as running (after an agent restart): its
   * process is taken over, and the container's loop then watches it instead
   * of starting one; a process gone meanwhile is a run that ended.
   */
  async adopt(slot: Slot, current: ContainerRecord, runtime: ContainerRuntime | undefined): Promise<void> {
    let handle: ContainerHandle | null = null;
    if (runtime) {
      handle = await runtime.adopt(current, this.#host.adoptionSpec(slot)).catch((error: unknown) => {
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
      const delay = this.afterExit(slot, {
        exit: { exitCode: null, reason: "Unknown", finishedAt: this.#clock.now() },
        startedAt: current.startedAt,
        ranMs: Number.isNaN(startedAtMs) ? 0 : this.#clock.now().getTime() - startedAtMs,
      });
      if (delay !== undefined) slot.pendingDelayMs = delay;
      this.#log.info({ container: slot.name }, "a recorded container ended while the agent was away");
    }
  }

  /** Starts the container's loop unless it has one; resolves when the loop ends. */
  ensureLoop(slot: Slot): Promise<void> {
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
        if (this.#host.halted()) return;
        if (delayMs > 0) {
          // A crash loop keeps its back-off; a missing ConfigMap key may have just appeared.
          const configWait = "waiting" in slot.state && configErrorReasons.has(slot.state.waiting.reason);
          await this.#clock.sleep(delayMs, configWait ? AbortSignal.any([this.#host.lifetime, this.#host.retrySignal()]) : this.#host.lifetime);
          if (this.#host.halted()) return;
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
      const next = this.afterExit(slot, end);
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
      handle = await slot.runtime.start(this.#host.launchSpec(slot));
    } catch (error) {
      return startFailure(error);
    }
    if (this.#host.detached()) {
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
    this.#host.notify();
    return run;
  }

  /** Hooks and probes of one run, then its end; undefined when the worker detached meanwhile. */
  async #watch(slot: Slot, run: Run, adopted: boolean): Promise<RunEnd | undefined> {
    if (this.#host.halted() && !this.#host.detached()) void this.endRun(slot, run);
    const signal = AbortSignal.any([run.abort.signal, this.#host.lifetime]);
    void this.#checks.check(slot, run, adopted, signal).catch((error: unknown) =>
      this.#log.error({ err: error, container: slot.name }, "probing a container failed"),
    );
    const exit = await Promise.race([run.handle.exited, this.#host.detachedSignal]);
    run.abort.abort();
    if (exit === "detached") return undefined;
    return { exit, forced: run.forced, startedAt: run.startedAt, ranMs: this.#clock.now().getTime() - run.startedAtMs };
  }

  /** preStop, then SIGTERM and SIGKILL after the grace period (the pod's stop deadline when stopping). Idempotent per run. */
  endRun(slot: Slot, run: Run, forced?: { reason: string; message: string }): Promise<ExitInfo> {
    if (forced && !run.forced && !this.#host.halted()) run.forced = forced;
    run.stopping ??= (async () => {
      const deadline = this.#host.stopDeadlineMs() ?? this.#clock.now().getTime() + this.#pod.spec.terminationGracePeriodSeconds * 1000;
      const preStop = slot.container.lifecycle?.preStop;
      if (preStop) {
        const outcome = await runHook(preStop, this.#checks.probeTarget(slot, run.handle), Math.max(0, deadline - this.#clock.now().getTime()), this.#clock);
        if (!outcome.ok) this.#log.warn({ container: slot.name, message: outcome.message }, "preStop hook failed");
      }
      return run.handle.stop(Math.max(0, deadline - this.#clock.now().getTime()));
    })();
    return run.stopping;
  }

  /** Records an ended run; the delay before the restart, or undefined when there is none. */
  afterExit(slot: Slot, end: RunEnd): number | undefined {
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
    if (this.#host.halted() || !restart) {
      slot.terminal = !restart;
      slot.state = terminated;
      slot.lastState = previous;
      this.#host.notify();
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
    this.#host.notify();
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
      this.#host.notify();
      return undefined;
    }
    if (this.#host.halted()) return undefined;
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
      this.#host.notify();
      return undefined;
    }
    const plan = planRestart(slot.backoffStep, 0, this.#backoff);
    slot.backoffStep = plan.step;
    slot.state = { waiting: { reason: failure.reason, message: failure.message } };
    this.#host.notify();
    return plan.delayMs;
  }
}
