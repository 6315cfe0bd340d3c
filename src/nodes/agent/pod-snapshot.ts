import type { AgentPod, PodStatus } from "../protocol.ts";
import { containerStatus, type Slot } from "./container-slot.ts";
import { deadlineExceeded, podPhase } from "./pod-lifecycle.ts";
import type { PodRecord } from "./pod-record.ts";

/** What a pod worker knows at one instant: the input of both snapshots below. */
export interface PodSnapshotInput {
  pod: AgentPod;
  initSlots: Slot[];
  appSlots: Slot[];
  hostPorts: Record<string, number>;
  startTime: string | undefined;
  initDone: boolean;
  initFailed: boolean;
  deadlineExceeded: boolean;
}

/** The pod's status for the control plane. */
export function podStatus(input: PodSnapshotInput): PodStatus {
  const { pod, initSlots, appSlots, hostPorts } = input;
  const phase = podPhase({ initFailed: input.initFailed, deadlineExceeded: input.deadlineExceeded, initDone: input.initDone, apps: appSlots });
  const sidecars = initSlots.filter((slot) => slot.role === "sidecar");
  const ready = phase === "Running" && [...appSlots, ...sidecars].every((slot) => slot.ready);
  return {
    uid: pod.uid,
    namespace: pod.namespace,
    name: pod.name,
    ...(pod.commitSha !== undefined ? { commitSha: pod.commitSha } : {}),
    phase,
    ready,
    ...(input.deadlineExceeded ? { reason: deadlineExceeded.reason, message: deadlineExceeded.message } : {}),
    ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
    initContainerStatuses: initSlots.map((slot) => containerStatus(slot, hostPorts)),
    containerStatuses: appSlots.map((slot) => containerStatus(slot, hostPorts)),
  };
}

/** What the agent persists: live instances (to re-adopt), restart counts, host ports. */
export function podRecord(input: Pick<PodSnapshotInput, "pod" | "initSlots" | "appSlots" | "hostPorts" | "startTime">): PodRecord {
  const containers: PodRecord["containers"] = {};
  for (const slot of [...input.initSlots, ...input.appSlots]) {
    containers[slot.name] = {
      ...(slot.run ? { current: slot.run.handle.record } : {}),
      restartCount: slot.restartCount,
      ...(slot.lastTermination ? { lastState: slot.lastTermination } : {}),
      succeeded: slot.succeeded,
    };
  }
  return {
    uid: input.pod.uid,
    hostPorts: { ...input.hostPorts },
    containers,
    ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
  };
}
