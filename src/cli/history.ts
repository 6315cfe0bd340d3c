import type { Command } from "commander";
import { revisionListSchema } from "../status/index.ts";
import { getJson } from "./api-client.ts";
import { serverOption } from "./program.ts";
import { formatTable } from "./table.ts";

export function registerHistory(program: Command): void {
  serverOption(
    program
      .command("history")
      .description("list the revisions (commits) capstan has seen, newest first, with their state")
      .option("--limit <n>", "how many revisions", "20")
      .option("--json", "print the API's JSON"),
  ).action(async (flags: { server: string; limit: string; json?: boolean }) => {
    const page = await getJson(flags.server, `/api/revisions?limit=${encodeURIComponent(flags.limit)}`, revisionListSchema);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
      return;
    }
    const rows = page.items.map((revision) => [
      revision.sha.slice(0, 10),
      revision.state,
      revision.committedAt.toISOString().replace(/\.\d+Z$/, "Z"),
      revision.authorName,
      (revision.message.split("\n", 1)[0] ?? "").slice(0, 60),
      revision.errors.length > 0 ? `${revision.errors.length} error(s)` : "",
    ]);
    process.stdout.write(formatTable(["COMMIT", "STATE", "COMMITTED", "AUTHOR", "SUBJECT", "ERRORS"], rows));
  });
}
