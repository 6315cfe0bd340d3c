import type { RestartPolicy } from "../../desired/index.ts";
import type { PodPhase } from "../protocol.ts";

/**
 * The pure decisions of a pod worker (pod-worker.ts carries them out): restart
 * or not, how long to wait, the pod phase.
 */

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

/** Kubernetes' pod status reason and message once activeDeadlineSeconds is spent. */
export const deadlineExceeded = { reason: "DeadlineExceeded", message: "Pod was active on the node longer than the specified deadline" } as const;

/**
 * How long a pod may still run under `activeDeadlineSeconds`, counted from
 * its start time as the kubelet counts it (so an agent restart does not
 * reset it); 0 once spent; undefined when the pod has no deadline.
 */
export function activeDeadlineRemainingMs(startTime: string | undefined, activeDeadlineSeconds: number | undefined, now: Date): number | undefined {
  if (activeDeadlineSeconds === undefined || startTime === undefined) return undefined;
  const started = Date.parse(startTime);
  if (Number.isNaN(started)) return undefined;
  return Math.max(0, started + activeDeadlineSeconds * 1000 - now.getTime());
}

export interface PhaseInput {
  /** A plain init container failed and will not be retried (restartPolicy Never). */
  initFailed: boolean;
  /** activeDeadlineSeconds was spent: the pod was stopped and failed. */
  deadlineExceeded?: boolean;
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
  if (input.initFailed || input.deadlineExceeded) return "Failed";
  if (input.apps.length > 0 && input.apps.every((app) => app.terminal)) {
    return input.apps.every((app) => app.succeeded) ? "Succeeded" : "Failed";
  }
  if (!input.initDone || input.apps.some((app) => !app.everRan && !app.terminal)) return "Pending";
  return "Running";
}
