import type { Clock } from "../../clock.ts";
import type { Container, RestartPolicy } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import type { AgentPod, ContainerState, ContainerStatus, ResourceUsage, RuntimeName } from "../protocol.ts";
import { PodConfigError } from "./errors.ts";
import { shouldRestart, type ContainerRole } from "./pod-lifecycle.ts";
import type { ContainerRunRecord, PodRecord } from "./pod-record.ts";
import { hostPortKey } from "./ports.ts";
import { ContainerStartError, type ContainerHandle, type ContainerRuntime, type ExitInfo } from "./runtime/types.ts";

/**
 * What a pod worker knows about each of its containers (a Slot) and each run
 * of one; a slot restored from the agent's record, and shown in the pod's
 * status.
 */

export interface Run {
  handle: ContainerHandle;
  startedAtMs: number;
  startedAt: string;
  /** Ends probes and hooks of this run. */
  abort: AbortController;
  /** Set when the agent ended the run (probe, hook): the run counts as failed, with this reason. */
  forced?: { reason: string; message: string };
  stopping?: Promise<ExitInfo>;
}

export interface RunEnd {
  exit: ExitInfo;
  forced?: { reason: string; message: string };
  startedAt?: string;
  ranMs: number;
}

export type StartFailure = { reason: string; message: string; startError: boolean };

/** Everything the worker knows about one container. */
export class Slot {
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

/** The slots of a pod's init and app containers, each as the agent's record left it (after an agent restart). */
export function podSlots(
  pod: AgentPod,
  runtimes: ReadonlyMap<RuntimeName, ContainerRuntime>,
  record: PodRecord | undefined,
  clock: Clock,
): { initSlots: Slot[]; appSlots: Slot[] } {
  const records = record?.containers ?? {};
  const init = pod.spec.initContainers ?? [];
  const slot = (container: Container, role: ContainerRole, initialReason: string): Slot => {
    const runtimeName = runtimeFor(container, runtimes);
    const containerRecord = records[container.name];
    const created = new Slot(container, role, runtimeName, runtimes.get(runtimeName), containerRecord, initialReason);
    restoreFromRecord(created, containerRecord, pod.spec.restartPolicy, clock);
    return created;
  };
  return {
    initSlots: init.map((container) => slot(container, container.restartPolicy === "Always" ? "sidecar" : "init", "PodInitializing")),
    appSlots: pod.spec.containers.map((container) => slot(container, "app", init.length > 0 ? "PodInitializing" : "ContainerCreating")),
  };
}

/** An image runs in docker, else podman; a host process in "process". */
function runtimeFor(container: Container, runtimes: ReadonlyMap<RuntimeName, ContainerRuntime>): RuntimeName {
  if (!container.image) return "process";
  return runtimes.has("docker") || !runtimes.has("podman") ? "docker" : "podman";
}

/** A container's state as the record left it (after an agent restart): done, or due for a restart. */
function restoreFromRecord(slot: Slot, record: ContainerRunRecord | undefined, policy: RestartPolicy, clock: Clock): void {
  if (!record || record.current) return;
  if (record.succeeded && slot.role !== "sidecar" && !(slot.role === "app" && policy === "Always")) {
    slot.terminal = true;
    slot.state = record.lastState ?? { terminated: { exitCode: 0, reason: "Completed", finishedAt: clock.now().toISOString() } };
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

/** A container's status; `hostPorts` are the pod's, by hostPortKey. */
export function containerStatus(slot: Slot, hostPorts: Record<string, number>): ContainerStatus {
  const ports: Record<string, number> = {};
  for (const port of slot.container.ports ?? []) {
    const hostPort = hostPorts[hostPortKey(slot.name, port)] ?? port.hostPort;
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

export function newRun(handle: ContainerHandle, startedAtMs: number, startedAt: string): Run {
  return { handle, startedAtMs, startedAt, abort: new AbortController() };
}

export function startFailure(error: unknown): StartFailure {
  if (error instanceof ContainerStartError) return { reason: error.reason, message: error.message, startError: true };
  if (error instanceof PodConfigError) return { reason: error.reason, message: error.message, startError: false };
  return { reason: "RunContainerError", message: messageOf(error), startError: false };
}
