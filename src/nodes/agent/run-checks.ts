import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { Probe } from "../../desired/index.ts";
import type { Run, Slot } from "./container-slot.ts";
import { runHook } from "./hooks.ts";
import { ProbeState, probeDelayMs, runProbe, type ProbeTarget } from "./probes.ts";
import type { ContainerHandle, ExitInfo } from "./runtime/types.ts";

/**
 * The hooks and probes of one run of a container: postStart, then the
 * startup probe, then liveness and readiness for as long as the run lasts.
 * A failed hook or probe ends the run through the supervisor.
 */

/** A postStart hook has this long (the kubelet has no bound; a hook that hangs would keep the container from ever starting). */
const postStartTimeoutMs = 120_000;
/** Probes and hooks reach a host process (and a published docker port) through the loopback address. */
const probeHost = "127.0.0.1";

/** What the checks of a run need from the container supervisor. */
export interface RunChecksHost {
  clock: Clock;
  log: Logger;
  /** The pod's host ports, by hostPortKey. */
  hostPorts(): Record<string, number>;
  /** Status changed. */
  notify(): void;
  /** Ends the run (preStop, then the stop signals); it counts as failed, with this reason, unless the worker is halting. */
  endRun(slot: Slot, run: Run, forced: { reason: string; message: string }): Promise<ExitInfo>;
}

export class RunChecks {
  readonly #host: RunChecksHost;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(host: RunChecksHost) {
    this.#host = host;
    this.#clock = host.clock;
    this.#log = host.log;
  }

  /** postStart, then the startup probe, then liveness and readiness until the run ends. */
  async check(slot: Slot, run: Run, adopted: boolean, signal: AbortSignal): Promise<void> {
    const { container } = slot;
    const target = this.probeTarget(slot, run.handle);
    if (!adopted && container.lifecycle?.postStart) {
      const outcome = await runHook(container.lifecycle.postStart, target, postStartTimeoutMs, this.#clock, signal);
      if (signal.aborted) return;
      if (!outcome.ok) {
        this.#log.warn({ container: slot.name, message: outcome.message }, "postStart hook failed: killing the container");
        await this.#host.endRun(slot, run, { reason: "PostStartHookError", message: `PostStartHook failed: ${outcome.message ?? ""}`.trim() });
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
    this.#host.notify();
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
    const target = this.probeTarget(slot, run.handle);
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
          this.#host.notify();
        }
        continue;
      }
      if (kind === "startup" && state.result === "success") return true;
      if (state.result === "failure") {
        const label = kind === "startup" ? "Startup" : "Liveness";
        const message = `${label} probe failed: ${outcome.message ?? ""}`.trim();
        this.#log.warn({ container: slot.name, message }, `${kind} probe failed ${probe.failureThreshold} times: restarting the container`);
        await this.#host.endRun(slot, run, { reason: "Error", message });
        return false;
      }
    }
  }

  /** Where the probes and hooks of a container reach it. */
  probeTarget(slot: Slot, handle: ContainerHandle): ProbeTarget {
    return { host: probeHost, hostPorts: this.#host.hostPorts(), containerName: slot.name, ports: slot.container.ports, handle };
  }
}
