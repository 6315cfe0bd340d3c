import type { Command } from "commander";
import type { HistoryEntry } from "../desired/index.ts";
import { historyListSchema } from "../status/index.ts";
import { getJson } from "./api-client.ts";
import { serverOption } from "./program.ts";
import { formatTable } from "./table.ts";

export function registerHistory(program: Command): void {
  serverOption(
    program
      .command("history")
      .description("list the revisions (commits) capstan has seen, newest first, with their state and rollout outcome")
      .option("--limit <n>", "how many revisions", "20")
      .option("--workload <kind/name>", "only the commits that rolled this workload out (kind/name or kind/namespace/name)")
      .option("--json", "print the API's JSON"),
  ).action(async (flags: { server: string; limit: string; workload?: string; json?: boolean }) => {
    const query = new URLSearchParams({ limit: flags.limit });
    if (flags.workload) query.set("workload", flags.workload);
    const page = await getJson(flags.server, `/api/history?${query}`, historyListSchema);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
      return;
    }
    process.stdout.write(formatHistory(page.items));
  });
}

/** One row per commit: what capstan did with it and how its rollouts ended. */
export function formatHistory(items: HistoryEntry[]): string {
  const rows = items.map((revision) => [
    revision.sha.slice(0, 10),
    revision.state,
    revisionOutcome(revision.state, revision.health, revision.errors.length, revision.rollouts),
    revision.committedAt.toISOString().replace(/\.\d+Z$/, "Z"),
    revision.authorName,
    (revision.message.split("\n", 1)[0] ?? "").slice(0, 60),
  ]);
  return formatTable(["COMMIT", "STATE", "OUTCOME", "COMMITTED", "AUTHOR", "SUBJECT"], rows);
}

function revisionOutcome(state: string, health: string | null, errors: number, rollouts: HistoryEntry["rollouts"]): string {
  if (state === "rejected") return `${errors} error(s)`;
  if (!health) return "-";
  const failed = rollouts.find((rollout) => rollout.outcome === "failed");
  if (failed) return `failed: ${failed.kind.toLowerCase()}/${failed.name} ${failed.reason ?? ""}`.trim();
  return health;
}
