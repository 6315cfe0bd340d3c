import type { Command } from "commander";
import { statusSchema } from "../status/index.ts";
import { getJson } from "./api-client.ts";
import { serverOption } from "./program.ts";
import { formatTable } from "./table.ts";

export function registerStatus(program: Command): void {
  serverOption(
    program
      .command("status")
      .description("the live revision, each workload's ready/desired and rollout, and the nodes")
      .option("--json", "print one JSON object: {revision, sync, workloads, nodes}"),
  ).action(async (flags: { server: string; json?: boolean }) => {
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
    process.stdout.write("\n");
    process.stdout.write(
      formatTable(
        ["WORKLOAD", "READY", "UP-TO-DATE", "AVAILABLE", "ROLLOUT", "HEALTH"],
        status.workloads.map((workload) => [
          `${workload.kind.toLowerCase()}/${workload.namespace}/${workload.name}`,
          `${workload.ready}/${workload.desired}`,
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
  });
}
