import { isAbsolute, join, resolve } from "node:path";
import { parseBytes, parseCpuMillis, type Container } from "../../desired/index.ts";
import type { AgentPod } from "../protocol.ts";
import { buildContainerEnv } from "./env.ts";
import { PodConfigError } from "./errors.ts";
import { hostsFileEnv } from "./hosts-file.ts";
import { hostPortKey, portBindings } from "./ports.ts";
import type { LaunchSpec } from "./runtime/types.ts";
import { containerMounts, type PreparedVolume } from "./volumes.ts";

/**
 * What a runtime is given to start one container of a pod: its command and
 * environment, mounts, port bindings, working directory, log file and limits.
 */

/** What a container's launch spec is built from: the pod, where it runs, and what the worker prepared for it. */
export interface LaunchContext {
  pod: AgentPod;
  agentId: string;
  hostIP: string;
  nodeName: string;
  /** `<stateDir>/pods/<uid>`. */
  podDir: string;
  hostPorts: Record<string, number>;
  /** undefined until the pod's volumes are prepared: no mounts then. */
  volumes: Map<string, PreparedVolume> | undefined;
  /** Service discovery variables (`<SVC>_SERVICE_HOST`...), as of this container's start. */
  serviceEnv?: Record<string, string>;
  /** The pod's hosts file, when it has hostAliases (hosts-file.ts). */
  hostsFile?: string;
}

export function launchSpec(context: LaunchContext, container: Container): LaunchSpec {
  if (!container.image && (container.command ?? []).length === 0) {
    throw new PodConfigError("CreateContainerError", `container ${container.name} has no command: a process container needs one (only an image has an entrypoint)`);
  }
  const { env, argv } = buildContainerEnv({
    pod: context.pod,
    container,
    // Inside an image container the process listens on its containerPort (the engine maps the host port to it).
    hostPorts: container.image ? containerPortsAsSeenInside(container) : context.hostPorts,
    hostIP: context.hostIP,
    nodeName: context.nodeName,
    ...(context.serviceEnv ? { serviceEnv: context.serviceEnv } : {}),
  });
  // Set unless the pod sets it itself: the path of the pod's hosts file, for tools that take one.
  if (context.hostsFile && !Object.hasOwn(env, hostsFileEnv)) env[hostsFileEnv] = context.hostsFile;
  return {
    ...specBase(context, container),
    argv,
    env,
    mounts: context.volumes ? containerMounts(container, context.volumes) : [],
    ports: portBindings(container, context.hostPorts),
  };
}

/** For adoption: the full spec when it can be built, else enough to supervise the process (probes' exec may lack env and mounts). */
export function adoptionSpec(context: LaunchContext, container: Container): LaunchSpec {
  try {
    return launchSpec(context, container);
  } catch {
    return { ...specBase(context, container), argv: [], env: {}, mounts: [], ports: [] };
  }
}

function specBase(context: LaunchContext, container: Container): Omit<LaunchSpec, "argv" | "env" | "mounts" | "ports"> {
  const limits = container.resources?.limits;
  const workingDir = resolveWorkingDir(context, container);
  return {
    id: `${context.pod.uid}.${container.name}`,
    agentId: context.agentId,
    podUid: context.pod.uid,
    namespace: context.pod.namespace,
    podName: context.pod.name,
    containerName: container.name,
    ...(container.image ? { image: container.image } : {}),
    ...(workingDir ? { workingDir } : {}),
    logPath: containerLogPath(context.podDir, container.name),
    ...(context.hostsFile ? { hostsFile: context.hostsFile, hostAliases: context.pod.spec.hostAliases ?? [] } : {}),
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
function resolveWorkingDir(context: LaunchContext, container: Container): string | undefined {
  const base = context.pod.workingDirBase ?? context.podDir;
  if (container.workingDir === undefined) return container.image ? undefined : base;
  if (isAbsolute(container.workingDir)) return container.workingDir;
  return container.image ? resolve("/", container.workingDir) : resolve(base, container.workingDir);
}

/** Where a container's log is: `<podDir>/logs/<container>.log`. */
export function containerLogPath(podDir: string, containerName: string): string {
  return join(podDir, "logs", `${containerName}.log`);
}

/** PORT / PORT_<NAME> for an image container: the container ports themselves, keyed like host ports. */
function containerPortsAsSeenInside(container: Container): Record<string, number> {
  return Object.fromEntries((container.ports ?? []).map((port) => [hostPortKey(container.name, port), port.containerPort]));
}
