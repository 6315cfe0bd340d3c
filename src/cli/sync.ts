import type { Command } from "commander";
import { syncAcceptedSchema } from "../status/index.ts";
import { postJson } from "./api-client.ts";
import { serverOption } from "./program.ts";

/**
 * `capstan sync`: POST /api/sync, the "sync now" action (CAPSTAN_TOKEN sent
 * as a bearer token by postJson). It asks for a fetch and returns; what the
 * fetch finds shows in `capstan status` (the sync state records a fetch before
 * it applies, so there is no moment the CLI could read as "done").
 */
export function registerSync(program: Command): void {
  serverOption(
    program.command("sync").description("ask the control plane to fetch the Git source now instead of at the next poll (needs CAPSTAN_TOKEN)"),
  ).action(async (flags: { server: string }) => {
    await postJson(flags.server, "/api/sync", {}, syncAcceptedSchema);
    process.stdout.write("sync requested: the control plane fetches now; capstan status shows what it found\n");
  });
}
