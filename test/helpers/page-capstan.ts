/**
 * A real capstan for the status page's browser tests: a control plane started
 * in this process (`startControlPlane`, as `capstan up` does) on a test
 * database of its own, reading a real local Git repository, optionally with
 * the local node (the control plane's own capstan-agent) declared in Git.
 *
 * `usePageCapstan` starts one for the calling describe block and stops it,
 * with the agent and every pod it started, after the block's last test.
 */
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { loadUpConfig } from "../../src/config.ts";
import { startControlPlane, type ControlPlane } from "../../src/controlplane.ts";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { killAgent } from "./agent.ts";
import { eventually } from "./eventually.ts";
import { createRepo, tempDir, type TestRepo } from "./git-fixture.ts";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";

export interface PageCapstanOptions {
  /** CAPSTAN_TOKEN; unset → actions are disabled. */
  token?: string;
  /** Declare the local node (`transport: local`) in the first commit. */
  localNode?: boolean;
  /** Files of the first commit besides the node. */
  files?: Record<string, string>;
}

export interface PageCapstan {
  readonly repo: TestRepo;
  readonly database: TestDatabase;
  readonly store: PgDesiredStore;
  readonly controlPlane: ControlPlane;
  /** The page's address, e.g. http://127.0.0.1:41234 (kept across `restart`). */
  readonly url: string;
  /** Writes (null: removes) files, commits them with `message`, asks for a sync at once; resolves with the sha. */
  commit(files: Record<string, string | null>, message: string): Promise<string>;
  /** Waits until the store has applied `sha` as the live revision. */
  waitForLive(sha: string, timeoutMs?: number): Promise<void>;
  /** Stops the control plane (the agent and its pods keep running, as in production). */
  stopControlPlane(): Promise<void>;
  /** Starts a new control plane on the same database, data dir and port. */
  startControlPlane(): Promise<void>;
}

export const localNodeManifest = "apiVersion: capstan.dev/v1\nkind: Node\nmetadata:\n  name: local\nspec:\n  transport: local\n  address: 127.0.0.1\n";

class Capstan implements PageCapstan {
  #repo?: TestRepo;
  #database?: TestDatabase;
  #store?: PgDesiredStore;
  #dataDir?: { path: string; cleanup(): Promise<void> };
  #controlPlane?: ControlPlane;
  #port = "0";
  url = "";

  constructor(private readonly options: PageCapstanOptions) {}

  get repo(): TestRepo {
    return this.#started(this.#repo, "repo");
  }
  get database(): TestDatabase {
    return this.#started(this.#database, "database");
  }
  get store(): PgDesiredStore {
    return this.#started(this.#store, "store");
  }
  get controlPlane(): ControlPlane {
    return this.#started(this.#controlPlane, "control plane");
  }

  #started<T>(value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`the capstan's ${what} exists only while it runs (inside tests and hooks)`);
    return value;
  }

  async start(): Promise<void> {
    this.#database = await createTestDatabase();
    this.#store = new PgDesiredStore(this.#database.pool);
    this.#dataDir = await tempDir("capstan-page-e2e-");
    this.#repo = await createRepo();
    await this.#repo.writeAll({ ...(this.options.localNode ? { "node.yaml": localNodeManifest } : {}), ...this.options.files });
    const first = await this.#repo.commit("First commit: the cluster");
    await this.startControlPlane();
    await this.waitForLive(first, 30_000);
  }

  async startControlPlane(): Promise<void> {
    const config = loadUpConfig(
      { repo: this.repo.dir, dataDir: this.#dataDir!.path, port: this.#port, pollIntervalSeconds: "3600" },
      { DATABASE_URL: this.database.url, CAPSTAN_RESYNC_INTERVAL: "2", ...(this.options.token ? { CAPSTAN_TOKEN: this.options.token } : {}) },
    );
    this.#controlPlane = await startControlPlane(config, silentLogger);
    this.url = this.#controlPlane.url;
    this.#port = new URL(this.url).port;
  }

  async stopControlPlane(): Promise<void> {
    const running = this.#controlPlane;
    this.#controlPlane = undefined;
    await running?.stop();
  }

  async commit(files: Record<string, string | null>, message: string): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      if (content === null) await this.repo.remove(path);
      else await this.repo.write(path, content);
    }
    const sha = await this.repo.commit(message, { allowEmpty: Object.keys(files).length === 0 });
    this.#controlPlane?.sync.trigger();
    return sha;
  }

  async waitForLive(sha: string, timeoutMs = 20_000): Promise<void> {
    await eventually(async () => {
      const state = await this.store.getSyncState();
      if (state?.liveSha !== sha) throw new Error(`live revision is ${state?.liveSha ?? "none"}, waiting for ${sha}`);
    }, timeoutMs);
  }

  /** Control plane first (it would restart the agent), then the agent with its pods, then the rest; past any failure. */
  async stop(): Promise<void> {
    const steps: Array<() => Promise<unknown> | undefined> = [
      () => this.stopControlPlane(),
      () => (this.#dataDir ? killAgent(join(this.#dataDir.path, "agent"), { remove: true }) : undefined),
      () => this.#database?.drop(),
      () => this.#repo?.cleanup(),
      () => this.#dataDir?.cleanup(),
    ];
    const errors: unknown[] = [];
    for (const step of steps) await Promise.resolve().then(step).catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw errors[0];
  }
}

/** One capstan for the calling describe block (or file): started before its first test, stopped after its last. */
export function usePageCapstan(options: PageCapstanOptions = {}): PageCapstan {
  const capstan = new Capstan(options);
  beforeAll(() => capstan.start(), 120_000);
  afterAll(() => capstan.stop(), 60_000);
  return capstan;
}
