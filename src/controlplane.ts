import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { UpConfig } from "./config.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Logger } from "./logging.ts";
import { createPool, migrate, startEmbeddedPostgres } from "./db/index.ts";
import { PgDesiredStore, ValidationPool } from "./desired/index.ts";
import { ensureExampleRepository, GitSync, openGitSource, redactUrl } from "./gitsync/index.ts";
import { createStatusApp, listen } from "./status/index.ts";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface ControlPlane {
  /** Where the page and API listen, e.g. http://127.0.0.1:8080. */
  url: string;
  databaseUrl: string;
  sync: GitSync;
  /** Stops everything it started, in reverse order. Idempotent. */
  stop(): Promise<void>;
}

/**
 * `capstan up`: the store (embedded PostgreSQL unless DATABASE_URL is set),
 * migrations, the Git sync loop and the HTTP server. Later issues add the
 * controllers, scheduler and node links here.
 */
export async function startControlPlane(config: UpConfig, log: Logger, clock: Clock = systemClock): Promise<ControlPlane> {
  const stack: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    while (stack.length > 0) await stack.pop()!().catch((error: Error) => log.error({ err: error.message }, "shutdown step failed"));
  };
  try {
    // First, so that its worker threads load while the store starts.
    const validationPool = new ValidationPool();
    stack.push(() => validationPool.close());
    await mkdir(config.dataDir, { recursive: true });
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const embedded = await startEmbeddedPostgres({ dataDir: join(config.dataDir, "pg"), log });
      stack.push(() => embedded.stop());
      databaseUrl = embedded.url;
      log.info({ dataDir: join(config.dataDir, "pg") }, "embedded PostgreSQL started");
    }
    const pool = createPool(databaseUrl);
    stack.push(() => pool.end());
    await migrate(pool);
    const store = new PgDesiredStore(pool);

    const repo = config.repo ?? (await ensureExampleRepository(join(config.dataDir, "examples-repo"), join(packageRoot, "examples-repo")));
    const source = openGitSource({
      url: repo,
      branch: config.branch,
      path: config.path,
      cacheDir: join(config.dataDir, "git"),
      auth: { username: config.gitUsername, password: config.gitPassword, token: config.gitToken },
    });
    const sync = new GitSync({
      validationPool,
      source,
      store,
      clock,
      log: log.child({ component: "gitsync" }),
      describe: { url: redactUrl(repo), branch: config.branch, path: config.path },
      pollIntervalMs: config.pollIntervalSeconds * 1000,
    });
    sync.start();
    stack.push(() => sync.stop());

    const app = createStatusApp({
      store,
      log: log.child({ component: "status" }),
      storeReachable: async () => (await pool.query("SELECT 1")).rowCount === 1,
      webhook: config.webhookSecret
        ? { secret: config.webhookSecret, branch: config.branch, onPush: () => sync.trigger() }
        : undefined,
    });
    const server = await listen(app, config.host, config.port);
    stack.push(() => server.close());
    log.info({ url: server.url, repo: redactUrl(repo), branch: config.branch }, "capstan is up");
    return { url: server.url, databaseUrl, sync, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
