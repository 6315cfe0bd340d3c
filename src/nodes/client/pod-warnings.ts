import type { PodStatus } from "../protocol.ts";

/**
 * The Warning events a pod's reported status calls for, as the kubelet
 * records them: a container that cannot be created or started (a missing
 * ConfigMap or Secret or key, a bad mount, a command or image that is not
 * there) and a pod that failed for a pod-level reason (DeadlineExceeded).
 * Pure: the node manager records each warning once per appearance.
 *
 * The messages come from the agent, which names objects and keys and never
 * a value, so an event never carries Secret data.
 */

/** Waiting reasons that mean the container is blocked, not merely on its way (ContainerCreating) or backing off. */
const blockedReasons = new Set([
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
  "ErrImageNeverPull",
  "InvalidImageName",
  "RuntimeUnavailable",
]);

export interface PodWarning {
  reason: string;
  message: string;
}

export function podWarnings(status: PodStatus): PodWarning[] {
  const warnings: PodWarning[] = [];
  for (const container of [...status.initContainerStatuses, ...status.containerStatuses]) {
    const waiting = "waiting" in container.state ? container.state.waiting : undefined;
    if (!waiting || !blockedReasons.has(waiting.reason)) continue;
    warnings.push({ reason: waiting.reason, message: `container ${container.name}: ${waiting.message ?? waiting.reason}` });
  }
  if (status.phase === "Failed" && status.reason) warnings.push({ reason: status.reason, message: status.message ?? status.reason });
  return warnings;
}

/** A stable key for one warning, to tell a new one from one already recorded. */
export function warningKey(warning: PodWarning): string {
  return `${warning.reason}\u0000${warning.message}`;
}
