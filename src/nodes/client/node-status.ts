import type { PodStatus } from "../protocol.ts";
import type { NodeLinkState } from "./node-client.ts";

/**
 * What the control plane writes into a Node's and a Pod's `status` (pure, so
 * the shapes are tested from tables). Kubernetes' shapes where they exist:
 * a Ready condition with lastHeartbeatTime / lastTransitionTime.
 */

export type ConditionStatus = "True" | "False" | "Unknown";

export interface NodeReadyCondition {
  type: "Ready";
  status: ConditionStatus;
  reason: string;
  message: string;
  lastHeartbeatTime: string | null;
  lastTransitionTime: string;
}

/**
 * Ready is True while the agent answers heartbeats; Unknown when the link is
 * down (as the Kubernetes node controller marks a kubelet that stopped
 * posting); False when the node refused us for a reason a retry will not fix
 * by itself (a host key that does not match the pinned one).
 */
export function readyCondition(link: NodeLinkState, previous: NodeReadyCondition | undefined, now: Date): NodeReadyCondition {
  let status: ConditionStatus;
  let reason: string;
  let message: string;
  if (link.connected) {
    status = "True";
    reason = "AgentReady";
    message = `capstan-agent ${link.info?.agentVersion ?? "?"} is answering`;
  } else if (link.lastError?.code === "HostKeyMismatch") {
    status = "False";
    reason = "HostKeyMismatch";
    message = link.lastError.message;
  } else {
    status = "Unknown";
    reason = link.lastError?.code ?? "NodeStatusUnknown";
    message = link.lastError?.message ?? "the control plane has not reached this node yet";
  }
  const transitioned = !previous || previous.status !== status;
  return {
    type: "Ready",
    status,
    reason,
    message,
    lastHeartbeatTime: link.lastHeartbeat?.toISOString() ?? previous?.lastHeartbeatTime ?? null,
    lastTransitionTime: transitioned ? now.toISOString() : previous.lastTransitionTime,
  };
}

export function nodeStatus(link: NodeLinkState, address: string, ready: NodeReadyCondition): Record<string, unknown> {
  const info = link.info;
  return {
    conditions: [ready],
    addresses: [{ type: "InternalIP", address }],
    ...(info
      ? {
          capacity: { cpuMillis: info.capacity.cpuMillis, memoryBytes: info.capacity.memoryBytes },
          nodeInfo: {
            agentVersion: info.agentVersion,
            protocolVersion: info.protocolVersion,
            hostname: info.hostname,
            bootId: info.bootId,
            runtimes: info.runtimes,
            ...(info.stateError ? { stateError: info.stateError } : {}),
          },
        }
      : {}),
    // Left out while unknown, so the merge keeps the recorded one (trust on first use relies on it across restarts).
    ...(link.hostKey ? { hostKey: { fingerprint: link.hostKey.fingerprint, trustedOnFirstUse: link.hostKey.trustedOnFirstUse } } : {}),
    reconnects: link.reconnects,
  };
}

/** A pod's status as stored: the agent's report without the per-sample noise (pid, CPU/RSS) that would rewrite the row every few seconds. */
export function storedPodStatus(pod: PodStatus, hostIP: string, readySince?: Date): Record<string, unknown> {
  const strip = (containers: PodStatus["containerStatuses"]) => containers.map(({ usage: _usage, pid: _pid, ...rest }) => rest);
  return {
    phase: pod.phase,
    ready: pod.ready,
    reason: pod.reason ?? null,
    message: pod.message ?? null,
    hostIP,
    podIP: hostIP,
    startTime: pod.startTime ?? null,
    commitSha: pod.commitSha ?? null,
    // When readiness last flipped, as the control plane saw it: what minReadySeconds counts from.
    conditions: [{ type: "Ready", status: pod.ready ? "True" : "False", lastTransitionTime: readySince?.toISOString() ?? null }],
    initContainerStatuses: strip(pod.initContainerStatuses),
    containerStatuses: strip(pod.containerStatuses),
  };
}
