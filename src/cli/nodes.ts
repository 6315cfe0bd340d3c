import type { Command } from "commander";
import { nodeListSchema } from "../status/index.ts";
import { ApiError, getJson } from "./api-client.ts";
import { serverOption } from "./program.ts";
import { formatTable } from "./table.ts";

export function registerNodes(program: Command): void {
  serverOption(
    program
      .command("nodes")
      .description("list the nodes: address, readiness, capacity and allocation, runtimes, agent version, host key")
      .option("--json", "print the API's JSON"),
  ).action(async (flags: { server: string; json?: boolean }) => {
    const list = await getJson(flags.server, "/api/nodes", nodeListSchema);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return;
    }
    const rows = list.items.map((node) => [
      node.name,
      node.transport === "local" ? "local" : `${node.address}:${node.port}`,
      node.ready === "True" ? "Ready" : node.ready === "False" ? `NotReady (${node.reason ?? "?"})` : `Unknown (${node.reason ?? "?"})`,
      node.capacity ? `${cpu(node.allocated.cpuMillis)}/${cpu(node.capacity.cpuMillis)}` : `${cpu(node.allocated.cpuMillis)}/?`,
      node.capacity ? `${bytes(node.allocated.memoryBytes)}/${bytes(node.capacity.memoryBytes)}` : `${bytes(node.allocated.memoryBytes)}/?`,
      String(node.allocated.pods),
      node.runtimes.join(",") || "-",
      node.agentVersion ?? "-",
      node.hostKey.fingerprint ? `${node.hostKey.fingerprint}${node.hostKey.pinned ? "" : node.hostKey.trustedOnFirstUse ? " (TOFU)" : ""}` : node.transport === "local" ? "-" : "?",
    ]);
    process.stdout.write(formatTable(["NAME", "ADDRESS", "STATUS", "CPU", "MEMORY", "PODS", "RUNTIMES", "AGENT", "HOST KEY"], rows));
  });
}

export function registerLogs(program: Command): void {
  serverOption(
    program
      .command("logs <pod>")
      .description("print a pod's container log (pod as NAME or NAMESPACE/NAME)")
      .option("-n, --namespace <ns>", "namespace of the pod", "default")
      .option("-c, --container <name>", "container (needed when the pod has several)")
      .option("-f, --follow", "keep printing what the container writes")
      .option("--tail <lines>", "lines of the end to print first"),
  ).action(async (pod: string, flags: { server: string; namespace: string; container?: string; follow?: boolean; tail?: string }) => {
    const [namespace, name] = pod.includes("/") ? (pod.split("/", 2) as [string, string]) : [flags.namespace, pod];
    const query = new URLSearchParams();
    if (flags.container) query.set("container", flags.container);
    if (flags.follow) query.set("follow", "true");
    if (flags.tail !== undefined) query.set("tailLines", flags.tail);
    const url = new URL(`/api/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/logs?${query}`, flags.server).toString();
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new ApiError(url, null, `cannot reach the control plane at ${flags.server} (${(error as Error).message}); is 'capstan up' running?`);
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => null)) as { error?: string } | null;
      throw new ApiError(url, response.status, body?.error ?? `${response.status} ${response.statusText}`);
    }
    for await (const chunk of response.body ?? []) process.stdout.write(chunk);
  });
}

function cpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

function bytes(count: number): string {
  const units = ["B", "Ki", "Mi", "Gi", "Ti"];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)}${units[unit]}`;
}
