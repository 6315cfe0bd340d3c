import { parseBytes, parseCpuMillis, type Container, type PodSpec } from "../desired/index.ts";
import type { Resources } from "./model.ts";

/**
 * What a pod asks of a node. Kubernetes' rule (resource.PodRequests): the app
 * containers run together, so their requests add up; plain init containers
 * run one at a time before them, so the pod needs the largest of them; a
 * sidecar (an init container with restartPolicy "Always") keeps running, so
 * it adds to the app containers and to every init container started after it.
 */
export function podRequests(spec: PodSpec): Resources {
  return {
    cpuMillis: effectiveRequest(spec, (container) => cpuRequest(container)),
    memoryBytes: effectiveRequest(spec, (container) => memoryRequest(container)),
    pods: 1,
  };
}

// kube-scheduler's DefaultMilliCPURequest and DefaultMemoryRequest.
const defaultScoringCpuMillis = 100;
const defaultScoringMemoryBytes = 200 * 1024 * 1024;

/**
 * The requests the allocation scorers count: a container that asks for no CPU
 * or memory is counted as asking 100m / 200Mi, as kube-scheduler does, so that
 * pods without requests spread by count instead of all landing on the first
 * node. Never used to decide whether a pod fits.
 */
export function scoringRequests(spec: PodSpec): { cpuMillis: number; memoryBytes: number } {
  return {
    cpuMillis: effectiveRequest(spec, (container) => cpuRequest(container) || defaultScoringCpuMillis),
    memoryBytes: effectiveRequest(spec, (container) => memoryRequest(container) || defaultScoringMemoryBytes),
  };
}

function cpuRequest(container: Container): number {
  const cpu = container.resources?.requests?.cpu;
  return cpu === undefined ? 0 : parseCpuMillis(cpu);
}

function memoryRequest(container: Container): number {
  const memory = container.resources?.requests?.memory;
  return memory === undefined ? 0 : parseBytes(memory);
}

function effectiveRequest(spec: PodSpec, request: (container: Container) => number): number {
  let running = 0;
  for (const container of spec.containers) running += request(container);
  let sidecars = 0;
  let initPeak = 0;
  for (const container of spec.initContainers ?? []) {
    const own = request(container);
    if (container.restartPolicy === "Always") {
      running += own;
      sidecars += own;
      initPeak = Math.max(initPeak, sidecars);
    } else {
      initPeak = Math.max(initPeak, own + sidecars);
    }
  }
  return Math.max(running, initPeak);
}

/** Host ports a pod's containers fix, as "port/protocol". */
export function podHostPorts(spec: PodSpec): string[] {
  const ports: string[] = [];
  for (const containers of [spec.initContainers ?? [], spec.containers]) {
    for (const container of containers) {
      for (const port of container.ports ?? []) {
        if (port.hostPort !== undefined) ports.push(`${port.hostPort}/${port.protocol ?? "TCP"}`);
      }
    }
  }
  return ports;
}

export interface PodDemand {
  readonly requests: Readonly<Resources>;
  readonly scoringRequests: { readonly cpuMillis: number; readonly memoryBytes: number };
  readonly hostPorts: readonly string[];
}

// Specs are parsed once and never changed, so what they ask is worked out once per spec object, not on every
// decision and again when the pod is booked.
const demandBySpec = new WeakMap<PodSpec, PodDemand>();

/** podRequests, scoringRequests and podHostPorts of a spec together, remembered per spec object. */
export function podDemand(spec: PodSpec): PodDemand {
  let demand = demandBySpec.get(spec);
  if (demand === undefined) {
    demand = { requests: podRequests(spec), scoringRequests: scoringRequests(spec), hostPorts: podHostPorts(spec) };
    demandBySpec.set(spec, demand);
  }
  return demand;
}
