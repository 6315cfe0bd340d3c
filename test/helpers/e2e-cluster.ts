/**
 * The cluster every end-to-end test runs against: real sshd servers on
 * loopback addresses as nodes, each with its own real capstan-agent state
 * dir, declared as Node manifests in a real Git repository, and a control
 * plane started in this process on a real PostgreSQL database.
 *
 * `useCluster` gives a test file one cluster for all its tests (started
 * before the first, stopped after the last); `startCluster` starts one for
 * the caller to stop. Either way `stop()` removes everything the cluster
 * started (control plane, pool, agents and their pods, sshd servers, repo
 * and its HTTP server, data dir), also when starting failed half-way or is still under way.
 */
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import type { Clock } from "../../src/clock.ts";
import { loadUpConfig } from "../../src/config.ts";
import { startControlPlane, type ControlPlane } from "../../src/controlplane.ts";
import { createPool } from "../../src/db/index.ts";
import { PgDesiredStore, type StoredObject } from "../../src/desired/index.ts";
import { silentLogger, type Logger } from "../../src/logging.ts";
import { agentCommand, agentId, agentStateDir, processesOfAgent } from "./agent.ts";
import { eventually } from "./eventually.ts";
import { createRepo, tempDir, type TestRepo } from "./git-fixture.ts";
import { startGitHttpServer, type GitHttpServer } from "./git-http-server.ts";
import { requireSshd, sshNodeManifest, startSshd, type SshdServer } from "./sshd.ts";
import { useTestDatabase } from "./test-database.ts";

export interface ClusterOptions {
  /** How many hosts (sshd server and agent state dir each). */
  nodes: number;
  /** How many of them, from the first, Git declares at the start (default: all); the rest are for a test to commit later. */
  declared?: number;
  /** The first host's loopback address; the others follow it (default 127.0.0.2). */
  firstAddress?: string;
  /** Environment for the control plane besides DATABASE_URL; CAPSTAN_RESYNC_INTERVAL is 5 unless given. */
  env?: Record<string, string>;
  /**
   * Serve the repo over smart HTTP (git http-backend) behind these basic-auth
   * credentials, and have the control plane read it there as users do: with
   * CAPSTAN_GIT_USERNAME and CAPSTAN_GIT_PASSWORD. Default: read in place.
   */
  overHttp?: { username: string; password: string };
  /** How often the control plane polls the repo (default 3600: tests trigger syncs themselves). */
  pollIntervalSeconds?: number;
  /** Names the data dir: capstan-e2e-<name>-… */
  name?: string;
  /** Default: silent. */
  logger?: Logger;
  clock?: Clock;
  /** Runs once the repo (with the declared nodes) and the data dir exist, before the control plane starts. */
  beforeStart?(cluster: Cluster): Promise<unknown> | void;
}

export interface Cluster {
  readonly repo: TestRepo;
  /** With `overHttp`: the server the control plane reads the repo from. */
  readonly gitServer: GitHttpServer;
  /** The control plane's data dir. */
  readonly dataDir: string;
  readonly controlPlane: ControlPlane;
  /** A pool of the test's own on the control plane's database. */
  readonly pool: ReturnType<typeof createPool>;
  readonly store: PgDesiredStore;
  /** One per host, node-<index> on servers[index]. */
  readonly servers: readonly SshdServer[];
  readonly agents: readonly { stateDir: string; cleanup(): Promise<void> }[];
  readonly addresses: readonly string[];
  /** nodes/node-<index>.yaml */
  nodeFile(index: number): string;
  /** The Node manifest of host `index`: node-<index>, on its sshd server, with its agent state dir. */
  nodeManifest(index: number): string;
  /** Writes (or, for null, removes) the files, commits, and has the control plane sync at once; resolves with the sha. */
  commit(files: Record<string, string | null>, message: string): Promise<string>;
  /** Waits until there are `count` Nodes (default: the declared ones), all Ready. */
  waitForNodesReady(count?: number, timeoutMs?: number): Promise<void>;
  /** Pids of the live processes the agent of host `index` started. */
  processesOn(index: number): Promise<number[]>;
  /** Pids of the live processes every agent started. */
  podProcesses(): Promise<number[]>;
  stop(): Promise<void>;
}

/** The `index`-th address after `first` (127.0.0.2 + 2 = 127.0.0.4). */
function addressAfter(first: string, index: number): string {
  const octets = first.split(".").map(Number);
  const last = octets[3]! + index;
  if (octets.length !== 4 || last > 254) throw new Error(`no loopback address ${index} after ${first}`);
  return [...octets.slice(0, 3), last].join(".");
}

class E2eCluster implements Cluster {
  #repo?: TestRepo;
  #served?: { path: string; cleanup(): Promise<void> };
  #gitServer?: GitHttpServer;
  #dataDir?: { path: string; cleanup(): Promise<void> };
  #controlPlane?: ControlPlane;
  #pool?: ReturnType<typeof createPool>;
  #store?: PgDesiredStore;
  #servers: SshdServer[] = [];
  #agents: { stateDir: string; cleanup(): Promise<void> }[] = [];
  #stopped = false;
  readonly addresses: readonly string[];
  readonly #declared: number;
  private readonly options: ClusterOptions;

  constructor(options: ClusterOptions) {
    this.options = options;
    this.addresses = Array.from({ length: options.nodes }, (_, index) => addressAfter(options.firstAddress ?? "127.0.0.2", index));
    this.#declared = options.declared ?? options.nodes;
  }

  get repo(): TestRepo {
    return this.#started(this.#repo, "repo");
  }
  get gitServer(): GitHttpServer {
    return this.#started(this.#gitServer, "gitServer (overHttp)");
  }
  get dataDir(): string {
    return this.#started(this.#dataDir, "dataDir").path;
  }
  get controlPlane(): ControlPlane {
    return this.#started(this.#controlPlane, "controlPlane");
  }
  get pool(): ReturnType<typeof createPool> {
    return this.#started(this.#pool, "pool");
  }
  get store(): PgDesiredStore {
    return this.#started(this.#store, "store");
  }
  get servers(): readonly SshdServer[] {
    return this.#servers;
  }
  get agents(): readonly { stateDir: string; cleanup(): Promise<void> }[] {
    return this.#agents;
  }

  #started<T>(value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`the cluster's ${what} exists only once it is started (inside tests and hooks) and until it is stopped`);
    return value;
  }

  /** After every step: a cluster stopped meanwhile (a hook timed out) must not keep what the step made. */
  #stillWanted(): void {
    if (this.#stopped) throw new Error("the cluster was stopped while it was starting");
  }

  async start(databaseUrl: string): Promise<void> {
    try {
      requireSshd();
      const servers = await Promise.allSettled(this.addresses.map((address) => startSshd({ address })));
      for (const result of servers) if (result.status === "fulfilled") this.#servers.push(result.value);
      for (const result of servers) if (result.status === "rejected") throw result.reason;
      this.#stillWanted();
      for (let index = 0; index < this.options.nodes; index += 1) {
        this.#agents.push(await agentStateDir());
        this.#stillWanted();
      }
      const http = this.options.overHttp;
      if (http) {
        this.#served = await tempDir("capstan-e2e-served-");
        this.#stillWanted();
        this.#gitServer = await startGitHttpServer({ root: this.#served.path, auth: http });
        this.#stillWanted();
      }
      this.#repo = await createRepo(this.#served ? join(this.#served.path, "manifests") : undefined);
      this.#stillWanted();
      this.#dataDir = await tempDir(`capstan-e2e-${this.options.name ?? "cluster"}-`);
      this.#stillWanted();
      const nodes = Array.from({ length: this.#declared }, (_, index) => index);
      await this.#repo.writeAll(Object.fromEntries(nodes.map((index) => [this.nodeFile(index), this.nodeManifest(index)])));
      await this.#repo.commit(`${this.#declared} nodes`);
      await this.options.beforeStart?.(this);
      this.#stillWanted();
      const credentials: Record<string, string> = http ? { CAPSTAN_GIT_USERNAME: http.username, CAPSTAN_GIT_PASSWORD: http.password } : {};
      const config = loadUpConfig(
        { repo: this.#gitServer ? this.#gitServer.urlFor(this.#repo.dir) : this.#repo.dir, dataDir: this.#dataDir.path, port: "0", pollIntervalSeconds: String(this.options.pollIntervalSeconds ?? 3600) },
        { DATABASE_URL: databaseUrl, ...credentials, CAPSTAN_RESYNC_INTERVAL: "5", ...this.options.env },
      );
      this.#controlPlane = await startControlPlane(config, this.options.logger ?? silentLogger, this.options.clock);
      this.#stillWanted();
      this.#pool = createPool(databaseUrl);
      this.#store = new PgDesiredStore(this.#pool);
      await this.waitForNodesReady();
    } catch (error) {
      await this.#teardown().catch(() => undefined);
      throw error;
    }
  }

  nodeFile(index: number): string {
    return `nodes/node-${index}.yaml`;
  }

  nodeManifest(index: number): string {
    const server = this.#servers[index];
    const agent = this.#agents[index];
    if (!server || !agent) throw new Error(`the cluster has no host ${index}`);
    return sshNodeManifest(`node-${index}`, server, { stateDir: agent.stateDir, agentCommand });
  }

  async commit(files: Record<string, string | null>, message: string): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      if (content === null) await this.repo.remove(path);
      else await this.repo.write(path, content);
    }
    const sha = await this.repo.commit(message);
    this.controlPlane.sync.trigger();
    return sha;
  }

  async waitForNodesReady(count = this.#declared, timeoutMs = 30_000): Promise<void> {
    await eventually(async () => {
      const nodes: StoredObject[] = await this.store.listObjects({ kind: "Node" });
      expect(nodes.map((node) => (node.status as { conditions?: { status: string }[] }).conditions?.[0]?.status)).toEqual(Array(count).fill("True"));
    }, timeoutMs);
  }

  async processesOn(index: number): Promise<number[]> {
    const agent = this.#agents[index];
    if (!agent) throw new Error(`the cluster has no host ${index}`);
    const id = await agentId(agent.stateDir);
    return id ? processesOfAgent(id) : [];
  }

  async podProcesses(): Promise<number[]> {
    const all: number[] = [];
    for (let index = 0; index < this.#agents.length; index += 1) all.push(...(await this.processesOn(index)));
    return all;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#teardown();
  }

  /**
   * Stops whatever is there, in this order: the control plane first (it would
   * start agents again), agents (with their pods) before their sshd servers.
   * Each resource is taken before it is stopped, so that a teardown running
   * beside another (start failing while stop() runs) stops it once. Goes on
   * past a failure and throws the first one at the end.
   */
  async #teardown(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<unknown> | undefined) => {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    };
    const controlPlane = this.#controlPlane;
    const pool = this.#pool;
    const agents = this.#agents;
    const servers = this.#servers;
    const repo = this.#repo;
    const gitServer = this.#gitServer;
    const served = this.#served;
    const dataDir = this.#dataDir;
    this.#controlPlane = this.#pool = this.#store = this.#repo = this.#gitServer = this.#served = this.#dataDir = undefined;
    this.#agents = [];
    this.#servers = [];
    await attempt(() => controlPlane?.stop());
    await attempt(() => pool?.end());
    for (const agent of agents) await attempt(() => agent.cleanup());
    await attempt(() => Promise.all(servers.map((server) => attempt(() => server.stop()))));
    await attempt(() => gitServer?.close());
    await attempt(() => repo?.cleanup());
    await attempt(() => served?.cleanup());
    await attempt(() => dataDir?.cleanup());
    if (errors.length > 0) throw errors[0];
  }
}

/** Starts a cluster on the database at `databaseUrl`; the caller stops it. Nothing is left behind when it fails. */
export async function startCluster(databaseUrl: string, options: ClusterOptions): Promise<Cluster> {
  const cluster = new E2eCluster(options);
  await cluster.start(databaseUrl);
  return cluster;
}

/**
 * Gives the calling test file one cluster, on a test database of its own, for
 * all its tests: started before the first test (the nodes Ready), stopped
 * after the last. Call at the top of a file; the cluster's members are usable
 * inside tests and hooks.
 */
export function useCluster(options: ClusterOptions): Cluster {
  const database = useTestDatabase();
  const cluster = new E2eCluster(options);
  beforeAll(() => cluster.start(database().url), 120_000);
  afterAll(() => cluster.stop(), 60_000);
  return cluster;
}
