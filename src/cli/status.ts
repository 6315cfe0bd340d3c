import type { Command } from "commander";
import { commitPlacementListSchema, podListSchema, statusSchema } from "../status/index.ts";
import { getJson } from "./api-client.ts";
import { cronJobTable, jobTable } from "./jobs.ts";
import { serverOption } from "./program.ts";
import { formatTable } from "./table.ts";

export function registerStatus(program: Command): void {
  serverOption(
    program
      .command("status")
      .description("the live revision, each workload's ready/desired and rollout, and the nodes")
      .option("--json", "print one JSON object: {revision, sync, workloads, nodes}")
      .option("--by-commit", "which commit runs where: the pods and nodes still running each commit's template"),
  ).action(async (flags: { server: string; json?: boolean; byCommit?: boolean }) => {
    if (flags.byCommit) return printByCommit(flags.server, flags.json === true);
    const status = await getJson(flags.server, "/api/status", statusSchema);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      return;
    }
    const revision = status.revision;
    process.stdout.write(
      revision ? `revision ${revision.sha.slice(0, 10)} (${revision.state}) ${revision.subject} — ${revision.author}\n` : "revision: none applied yet\n",
    );
    if (status.sync?.lastError) process.stdout.write(`sync: ${status.sync.lastError}\n`);
    const leadership = status.leadership;
    if (leadership?.mode === "replicas") {
      const leader = leadership.leader;
      process.stdout.write(
        leader
          ? `leader: ${leader.replica}${leader.url ? ` (${leader.url})` : ""}, term ${leader.token}; asked: ${leadership.role}\n`
          : `leader: none known (a failover is under way); asked: ${leadership.role}\n`,
      );
    }
    process.stdout.write("\n");
    process.stdout.write(
      formatTable(
        ["WORKLOAD", "READY", "UP-TO-DATE", "AVAILABLE", "ROLLOUT", "HEALTH"],
        status.workloads.map((workload) => [
          `${workload.kind.toLowerCase()}/${workload.namespace}/${workload.name}`,
          // An autoscaled workload's desired count is its autoscaler's, not Git's.
          `${workload.ready}/${workload.desired}${workload.autoscaledBy ? ` (hpa/${workload.autoscaledBy}; Git's ${workload.gitReplicas} ignored)` : ""}`,
          String(workload.updated),
          String(workload.available),
          workload.rollout,
          workload.health,
        ]),
      ),
    );
    process.stdout.write("\n");
    process.stdout.write(
      formatTable(
        ["NODE", "ADDRESS", "READY", "PODS"],
        status.nodes.map((node) => [node.name, node.address, node.ready, String(node.pods)]),
      ),
    );
    // Only when there are any, so that a cluster without batch work reads as before.
    if (status.cronJobs.length > 0) process.stdout.write(`\n${cronJobTable(status.cronJobs)}`);
    if (status.jobs.length > 0) process.stdout.write(`\n${jobTable(status.jobs, new Date())}`);
  });
}

export function registerPods(program: Command): void {
  serverOption(
    program
      .command("pods")
      .description("list pods: node, status (phase, or why it is stuck), readiness, restarts and the commit each runs")
      .option("-n, --namespace <ns>", "only this namespace")
      .option("--json", "print the API's JSON"),
  ).action(async (flags: { server: string; namespace?: string; json?: boolean }) => {
    const query = flags.namespace ? `?namespace=${encodeURIComponent(flags.namespace)}` : "";
    const list = await getJson(flags.server, `/api/pods${query}`, podListSchema);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      formatTable(
        // STATUS as kubectl shows it: the reason a pod is stuck (CreateContainerConfigError...) where there is one, else its phase.
        ["NAMESPACE", "NAME", "NODE", "STATUS", "READY", "RESTARTS", "COMMIT"],
        list.items.map((pod) => [pod.namespace, pod.name, pod.node ?? "-", pod.reason ?? pod.phase, pod.ready ? "yes" : "no", String(pod.restarts), pod.commit?.slice(0, 10) ?? "-"]),
      ),
    );
  });
}

async function printByCommit(server: string, json: boolean): Promise<void> {
  const list = await getJson(server, "/api/commits", commitPlacementListSchema);
  if (json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    formatTable(
      ["COMMIT", "SUBJECT", "PODS", "READY", "NODES"],
      list.items.map((item) => [
        item.commit?.slice(0, 10) ?? "-",
        (item.subject ?? "").slice(0, 50),
        String(item.pods.length),
        String(item.pods.filter((pod) => pod.ready).length),
        item.nodes.join(","),
      ]),
    ),
  );
}
