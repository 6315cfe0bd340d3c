import type { Command } from "commander";
import { userInfo, hostname } from "node:os";
import { formatChanges } from "../desired/index.ts";
import { diffResultSchema, rollbackResultSchema } from "../gitsync/index.ts";
import { getJson, postJson } from "./api-client.ts";
import { serverOption } from "./program.ts";

export function registerRollback(program: Command): void {
  serverOption(
    program
      .command("rollback")
      .description("commit and push a revert to the last healthy revision before the live one (or --to); the sync rolls it out")
      .option("--to <sha>", "the commit to go back to (a sha or a unique prefix)")
      .option("--workload <kind/name>", "restore only this workload's manifest files (kind/name or kind/namespace/name)")
      .option("--dry-run", "print what the revert commit would change, push nothing")
      .option("--as <who>", "who asks, for the commit's Capstan-Requested-By trailer (default user@host)"),
  ).action(async (flags: { server: string; to?: string; workload?: string; dryRun?: boolean; as?: string }) => {
    const request = {
      ...(flags.to ? { to: flags.to } : {}),
      ...(flags.workload ? { workload: flags.workload } : {}),
      dryRun: flags.dryRun === true,
      requestedBy: flags.as ?? `${userInfo().username}@${hostname()}`,
    };
    const result = await postJson(flags.server, "/api/rollback", request, rollbackResultSchema);
    const subject = result.message.split("\n", 1)[0];
    if (result.pushed) process.stdout.write(`pushed ${result.sha.slice(0, 10)} on top of ${result.fromSha.slice(0, 10)}: ${subject}\n`);
    else process.stdout.write(`dry run: would commit on top of ${result.fromSha.slice(0, 10)}: ${subject}\n`);
    process.stdout.write(formatChanges(result.changes));
  });

  serverOption(
    program
      .command("diff <sha> [sha2]")
      .description("the manifest-level difference between two commits, or between a commit and its parent")
      .option("--json", "print the API's JSON"),
  ).action(async (sha: string, sha2: string | undefined, flags: { server: string; json?: boolean }) => {
    const query = new URLSearchParams(sha2 ? { from: sha, to: sha2 } : { from: sha });
    const result = await getJson(flags.server, `/api/diff?${query}`, diffResultSchema);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${result.fromSha.slice(0, 10) || "(empty)"}..${result.toSha.slice(0, 10)}\n`);
    process.stdout.write(formatChanges(result.changes));
  });
}
