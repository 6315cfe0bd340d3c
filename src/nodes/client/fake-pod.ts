import type { Container } from "../../desired/index.ts";
import type { AgentPod, ContainerState, ContainerStatus, PodPhase, PodStatus, RuntimeName } from "../protocol.ts";

/**
 * The pods of FakeNodeClient's in-memory node: how one is started from the
 * agent's pod spec and what status it reports, as capstan-agent would
 * (within the limits the FakeNodeClient documents). The client keeps them
 * and changes them (crash, setReady); this file only models them.
 */

export interface FakeContainer {
  name: string;
  role: "init" | "sidecar" | "app";
  runtime: RuntimeName;
  ports: Record<string, number>;
  state: ContainerState;
  lastState?: ContainerState;
  /** Readiness as set by setReady (default true); only counts while the container runs. */
  ready: boolean;
  restartCount: number;
  /** Will not run again (completed init container, or ended under restartPolicy Never/OnFailure). */
  terminal: boolean;
}

export interface FakePod {
  pod: AgentPod;
  /** Canonical JSON of the parsed pod: a different one under the same uid is a replacement, as on the agent. */
  identity: string;
  startTime: string;
  init: FakeContainer[];
  apps: FakeContainer[];
}

/** What a pod starts from on the fake node. */
export interface FakeNodeModel {
  /** The start time, as an ISO string. */
  now: string;
  runtimes: readonly RuntimeName[];
  /** The next fake host port for a container port without a fixed hostPort. */
  allocateHostPort(): number;
}

/**
 * A pod as the fake node starts it: app containers and sidecars running and
 * ready, plain init containers completed, a container that a real node could
 * not start waiting with the agent's reason.
 */
export function createFakePod(pod: AgentPod, identity: string, node: FakeNodeModel): FakePod {
  const now = node.now;
  const container = (spec: Container, role: FakeContainer["role"]): FakeContainer => {
    const runtime = runtimeFor(spec, node.runtimes);
    const ports: Record<string, number> = {};
    for (const port of spec.ports ?? []) ports[port.name ?? String(port.containerPort)] = port.hostPort ?? node.allocateHostPort();
    const base = { name: spec.name, role, runtime, ports, ready: true, restartCount: 0 };
    if (!node.runtimes.includes(runtime)) {
      const message = spec.image ? `image ${spec.image} needs docker or podman, and this node has neither` : `this node has no ${runtime} runtime`;
      return { ...base, state: { waiting: { reason: "RuntimeUnavailable", message } }, terminal: false };
    }
    if (!spec.image && (spec.command ?? []).length === 0) {
      const message = `container ${spec.name} has no command: a process container needs one (only an image has an entrypoint)`;
      return { ...base, state: { waiting: { reason: "CreateContainerError", message } }, terminal: false };
    }
    if (role === "init") {
      return { ...base, ready: false, state: { terminated: { exitCode: 0, reason: "Completed", startedAt: now, finishedAt: now } }, terminal: true };
    }
    return { ...base, state: { running: { startedAt: now } }, terminal: false };
  };
  return {
    pod,
    identity,
    startTime: now,
    init: (pod.spec.initContainers ?? []).map((spec) => container(spec, spec.restartPolicy === "Always" ? "sidecar" : "init")),
    apps: pod.spec.containers.map((spec) => container(spec, "app")),
  };
}

/** What the agent would report for the pod: phase from its containers, ready while every serving container runs ready. */
export function fakePodStatus(pod: FakePod): PodStatus {
  const blocked = [...pod.init, ...pod.apps].some((container) => "waiting" in container.state);
  let phase: PodPhase = "Running";
  if (blocked) phase = "Pending";
  else if (pod.apps.every((container) => container.terminal)) {
    phase = pod.apps.every((container) => "terminated" in container.state && container.state.terminated.exitCode === 0) ? "Succeeded" : "Failed";
  }
  const serving = [...pod.init.filter((container) => container.role === "sidecar"), ...pod.apps];
  return {
    uid: pod.pod.uid,
    namespace: pod.pod.namespace,
    name: pod.pod.name,
    ...(pod.pod.commitSha !== undefined ? { commitSha: pod.pod.commitSha } : {}),
    phase,
    ready: phase === "Running" && serving.every((container) => "running" in container.state && container.ready),
    startTime: pod.startTime,
    initContainerStatuses: pod.init.map(containerStatus),
    containerStatuses: pod.apps.map(containerStatus),
  };
}

function containerStatus(container: FakeContainer): ContainerStatus {
  const running = "running" in container.state;
  return {
    name: container.name,
    runtime: container.runtime,
    state: structuredClone(container.state),
    ...(container.lastState ? { lastState: structuredClone(container.lastState) } : {}),
    ready: running && container.ready,
    started: running,
    restartCount: container.restartCount,
    ports: { ...container.ports },
  };
}

/** As the agent: an image runs in docker, else podman; a host process in "process". */
function runtimeFor(container: Container, runtimes: readonly RuntimeName[]): RuntimeName {
  if (!container.image) return "process";
  return runtimes.includes("docker") || !runtimes.includes("podman") ? "docker" : "podman";
}
