import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, isIP, isIPv6, Server } from "node:net";
import type { Container } from "../../desired/index.ts";
import type { AgentPod } from "../protocol.ts";
import type { PortBinding } from "./runtime/types.ts";

/**
 * Host ports of a pod's containers. A host process shares the node's network,
 * so every container port needs a host port of its own: the fixed `hostPort`
 * when the manifest gives one, else a free port chosen once and then kept for
 * the pod's life (the agent persists the allocation, so a restarted agent
 * hands the same ports to restarted containers).
 */

type ContainerPort = NonNullable<Container["ports"]>[number];

/** `<container>/<port name, or the container port when unnamed>`: how allocations are keyed. */
export function hostPortKey(containerName: string, port: { name?: string; containerPort: number }): string {
  return `${containerName}/${port.name ?? port.containerPort}`;
}

/**
 * Ports handed to the pods of this agent process, by port → pod uid. Without
 * it, two pods allocated at the same moment could each be offered a port the
 * other just probed and released (seen with 100 pods started at once); with
 * it, a port stays out of other pods' reach until its pod releases it.
 */
const heldPorts = new Map<number, string>();

function heldByOther(port: number, podUid: string): boolean {
  const owner = heldPorts.get(port);
  return owner !== undefined && owner !== podUid;
}

/** Gives a pod's ports back (its processes are gone). */
export function releaseHostPorts(podUid: string): void {
  for (const [port, owner] of heldPorts) if (owner === podUid) heldPorts.delete(port);
}

/** Attempts at finding a port the pod does not use already before giving up (the OS would have to be very unlucky). */
const maxProbeAttempts = 100;

/**
 * A host port for every port of every container (init containers too), keyed
 * by hostPortKey. Free ports are found by binding port 0 on `hostIP` (TCP,
 * or UDP for UDP ports); the probes stay bound until the whole pod is
 * allocated, so the OS cannot hand the same port twice, and none collides
 * with a fixed or already allocated port of the pod. A port found free can
 * still be taken by someone else before the container binds it; the
 * container then fails to start and is restarted like any other failure.
 */
export async function allocateHostPorts(
  pod: AgentPod,
  hostIP: string,
  existing: Record<string, number> = {},
): Promise<Record<string, number>> {
  const ports: { key: string; port: ContainerPort }[] = [];
  for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const port of container.ports ?? []) ports.push({ key: hostPortKey(container.name, port), port });
  }

  const allocations: Record<string, number> = {};
  const taken = new Set<number>();
  for (const [port, owner] of heldPorts) if (owner !== pod.uid) taken.add(port);
  for (const { key, port } of ports) {
    if (port.hostPort === undefined) continue;
    allocations[key] = port.hostPort;
    taken.add(port.hostPort);
  }
  for (const { key, port } of ports) {
    const previous = existing[key];
    if (port.hostPort !== undefined || previous === undefined || taken.has(previous)) continue;
    allocations[key] = previous;
    taken.add(previous);
  }

  const probes: (Server | UdpSocket)[] = [];
  try {
    for (const { key, port } of ports) {
      if (allocations[key] !== undefined) continue;
      // Held by another pod is checked live, not from a copy taken at the start: pods are allocated concurrently.
      const found = await probeFreePort(port.protocol, hostIP, (candidate) => taken.has(candidate) || heldByOther(candidate, pod.uid), probes);
      heldPorts.set(found, pod.uid);
      allocations[key] = found;
      taken.add(found);
    }
    for (const port of Object.values(allocations)) heldPorts.set(port, pod.uid);
  } finally {
    await Promise.all(probes.map(closeProbe));
  }
  return allocations;
}

/** Binds port 0 until the OS offers a port `isTaken` does not claim; every probe is left open in `probes` for the caller to close. */
async function probeFreePort(
  protocol: "TCP" | "UDP",
  hostIP: string,
  isTaken: (port: number) => boolean,
  probes: (Server | UdpSocket)[],
): Promise<number> {
  for (let attempt = 0; attempt < maxProbeAttempts; attempt++) {
    const probe = protocol === "TCP" ? await bindTcp(hostIP) : await bindUdp(hostIP);
    probes.push(probe.socket);
    if (!isTaken(probe.port)) return probe.port;
  }
  throw new Error(`no free ${protocol} port found on ${hostIP || "any address"} after ${maxProbeAttempts} attempts`);
}

/**
 * The address probes bind: the node's address when it is one of this host's
 * (a hostname or an address behind NAT is not), else every address, where a
 * free port is free on the node's address too.
 */
function probeAddresses(hostIP: string): (string | undefined)[] {
  return isIP(hostIP) === 0 ? [undefined] : [hostIP, undefined];
}

function isAddressNotAvailable(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "EADDRNOTAVAIL";
}

async function bindTcp(hostIP: string): Promise<{ socket: Server; port: number }> {
  let lastError: unknown;
  for (const host of probeAddresses(hostIP)) {
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port: 0, host, exclusive: true }, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("a TCP server without a port");
      return { socket: server, port: address.port };
    } catch (error) {
      server.close();
      if (!isAddressNotAvailable(error)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

async function bindUdp(hostIP: string): Promise<{ socket: UdpSocket; port: number }> {
  let lastError: unknown;
  for (const address of probeAddresses(hostIP)) {
    const socket = createSocket({ type: address !== undefined && isIPv6(address) ? "udp6" : "udp4", reuseAddr: false });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind({ port: 0, address, exclusive: true }, () => {
          socket.off("error", reject);
          resolve();
        });
      });
      return { socket, port: socket.address().port };
    } catch (error) {
      closeQuietly(socket);
      if (!isAddressNotAvailable(error)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

function closeQuietly(socket: UdpSocket): void {
  try {
    socket.close();
  } catch {
    // Already closed by the failed bind.
  }
}

function closeProbe(probe: Server | UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    if (probe instanceof Server) probe.close(() => resolve());
    else probe.close(() => resolve());
  });
}

/** The runtime's view of a container's ports (docker `-p`), with the allocated host ports. */
export function portBindings(container: Container, hostPorts: Record<string, number>): PortBinding[] {
  return (container.ports ?? []).map((port) => {
    const key = hostPortKey(container.name, port);
    const hostPort = hostPorts[key] ?? port.hostPort;
    if (hostPort === undefined) throw new Error(`no host port allocated for ${key}`);
    return {
      ...(port.name !== undefined && { name: port.name }),
      containerPort: port.containerPort,
      hostPort,
      protocol: port.protocol,
    };
  });
}
