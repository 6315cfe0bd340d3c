import { BlockList, isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { ServiceRoute } from "../protocol.ts";
import type { ProxyListener } from "./service-proxy.ts";

/**
 * Pure decisions about the node's Services: which listeners the proxy holds,
 * on which address, and the discovery variables a container gets.
 */

/**
 * The address the proxy listens on, from the node address the control plane
 * sent in `hello`:
 * - an IP address of this host (loopback range included): that address, so a
 *   Service is reachable where the node's pods are and nowhere else;
 * - a hostname, or an address that is not this host's (behind NAT): every
 *   IPv4 address ("0.0.0.0"), because binding it would fail;
 * - no node address yet (an agent that never had a `hello`): loopback only,
 *   reachable by the node's own pods (they share its network) and nobody else.
 */
export function proxyListenHost(nodeAddress: string | undefined, localAddresses: BlockList = hostAddresses()): string {
  if (nodeAddress === undefined || nodeAddress === "") return "127.0.0.1";
  const family = isIP(nodeAddress);
  if (family === 0) return "0.0.0.0";
  return localAddresses.check(nodeAddress, family === 6 ? "ipv6" : "ipv4") ? nodeAddress : "0.0.0.0";
}

/** The host's own addresses, whole subnets for loopback (127.0.0.2 is as local as 127.0.0.1), single addresses otherwise. */
function hostAddresses(): BlockList {
  const list = new BlockList();
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      const type = address.family === "IPv6" ? "ipv6" : "ipv4";
      if (address.internal && address.cidr) {
        const [network, prefix] = address.cidr.split("/");
        list.addSubnet(network!, Number(prefix), type);
      } else {
        list.addAddress(address.address, type);
      }
    }
  }
  return list;
}

/**
 * What pods of this node use to reach a Service: the listen address, or
 * loopback when the proxy listens on every address (a hostname or NAT address
 * may not lead back to this host from itself).
 */
export function serviceHost(listenHost: string): string {
  return listenHost === "0.0.0.0" ? "127.0.0.1" : listenHost;
}

/**
 * The proxy's listeners for a route set: every port of every non-headless
 * Service, and its nodePort when set. Services are taken in namespace/name
 * order, so when two claim one port the same one keeps it on every sync.
 */
export function serviceListeners(routes: readonly ServiceRoute[], host: string): ProxyListener[] {
  const listeners: ProxyListener[] = [];
  for (const route of sortedRoutes(routes)) {
    if (route.headless) continue;
    for (const port of route.ports) {
      const base = { host, namespace: route.namespace, name: route.name, endpoints: port.endpoints };
      listeners.push({ ...base, port: port.port });
      if (port.nodePort !== undefined && port.nodePort !== port.port) listeners.push({ ...base, port: port.nodePort });
    }
  }
  return listeners;
}

function sortedRoutes(routes: readonly ServiceRoute[]): ServiceRoute[] {
  const key = (route: ServiceRoute): string => `${route.namespace}/${route.name}`;
  return [...routes].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Kubernetes' service discovery variables (kubelet envvars.FromServices) for
 * the non-headless Services of one namespace:
 *   <SVC>_SERVICE_HOST, <SVC>_SERVICE_PORT (the first port),
 *   <SVC>_SERVICE_PORT_<PORT NAME> for named ports,
 * and the docker-link ones:
 *   <SVC>_PORT=tcp://host:port (the first port), and per port
 *   <SVC>_PORT_<port>_TCP=tcp://host:port, ..._PROTO, ..._PORT, ..._ADDR.
 * Names upper-cased with '-' as '_'.
 */
export function serviceEnvironment(routes: readonly ServiceRoute[], namespace: string, host: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const route of sortedRoutes(routes)) {
    if (route.namespace !== namespace || route.headless || route.ports.length === 0) continue;
    const prefix = envVariableName(route.name);
    const first = route.ports[0]!;
    env[`${prefix}_SERVICE_HOST`] = host;
    env[`${prefix}_SERVICE_PORT`] = String(first.port);
    for (const port of route.ports) {
      if (port.name) env[`${prefix}_SERVICE_PORT_${envVariableName(port.name)}`] = String(port.port);
    }
    env[`${prefix}_PORT`] = `tcp://${hostInUrl(host)}:${first.port}`;
    for (const port of route.ports) {
      const link = `${prefix}_PORT_${port.port}_TCP`;
      env[link] = `tcp://${hostInUrl(host)}:${port.port}`;
      env[`${link}_PROTO`] = "tcp";
      env[`${link}_PORT`] = String(port.port);
      env[`${link}_ADDR`] = host;
    }
  }
  return env;
}

function envVariableName(name: string): string {
  return name.toUpperCase().replaceAll("-", "_");
}

function hostInUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
