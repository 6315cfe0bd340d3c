import { tempDir } from "./git-fixture.ts";
import { startCli, type RunningCli } from "./cli.ts";
import { leadershipSchema, type Leadership } from "../../src/status/index.ts";

/** One `capstan up --replicas-share` process with its own data dir and port. */
export interface Replica {
  name: string;
  cli: RunningCli;
  url: string;
  /** This replica's view of the election from GET /api/status; null when it does not answer. */
  leadership(): Promise<Leadership | null>;
  alive(): boolean;
}

export interface ReplicaSet {
  replicas: Replica[];
  /** The live replicas, in start order. */
  alive(): Replica[];
  /**
   * Waits until exactly one of `among` (default: the live replicas) says it
   * leads and every one of them names it as the leader; resolves with it.
   */
  agreedLeader(timeoutMs?: number, among?: Replica[]): Promise<Replica>;
  /**
   * Waits until one of `among` (default: the live replicas) says it leads,
   * polling every 20 ms; for timing a failover, before the others have heard.
   */
  firstLeader(timeoutMs?: number, among?: Replica[]): Promise<Replica>;
  /** Starts one more replica with the same options. */
  add(): Promise<Replica>;
  /** Stops every process (SIGKILL for stopped or hanging ones) and removes the data dirs. */
  stopAll(): Promise<void>;
}

export interface ReplicaSetOptions {
  databaseUrl: string;
  repo: string;
  /**
   * One data dir for every replica (kept after stopAll; the caller owns it).
   * Replicas on one host that run the local node need it: the local node's
   * agent lives under `<data-dir>/agent`, and a new leader must reach the
   * agent (and the pods) the old one started. Default: one temp dir each.
   */
  dataDir?: string;
  /** Extra `capstan up` flags for every replica. */
  args?: string[];
  env?: Record<string, string>;
}

/**
 * Starts `count` control planes sharing one PostgreSQL, as users run them.
 * Meant for tests that need several control planes at once (failover, and
 * work that must happen exactly once whoever leads).
 */
export async function startReplicas(count: number, options: ReplicaSetOptions): Promise<ReplicaSet> {
  const replicas: Replica[] = [];
  const dirs: Array<{ cleanup(): Promise<void> }> = [];
  const set: ReplicaSet = {
    replicas,
    alive: () => replicas.filter((replica) => replica.alive()),
    agreedLeader: (timeoutMs = 15_000, among) => agreedLeader(among ?? set.alive(), timeoutMs),
    firstLeader: (timeoutMs = 15_000, among) => firstLeader(among ?? set.alive(), timeoutMs),
    add: async () => {
      const replica = await startReplica(`replica-${replicas.length}`, options, dirs);
      replicas.push(replica);
      return replica;
    },
    stopAll: async () => {
      await Promise.all(
        replicas.map(async (replica) => {
          // A SIGSTOPped process ignores SIGTERM until continued.
          replica.cli.child.kill("SIGCONT");
          await replica.cli.stop("SIGTERM", 10_000);
        }),
      );
      await Promise.all(dirs.map((dir) => dir.cleanup()));
    },
  };
  try {
    for (let index = 0; index < count; index++) await set.add();
  } catch (error) {
    await set.stopAll();
    throw error;
  }
  return set;
}

async function startReplica(name: string, options: ReplicaSetOptions, dirs: Array<{ cleanup(): Promise<void> }>): Promise<Replica> {
  let dataDir = options.dataDir;
  if (!dataDir) {
    const own = await tempDir(`capstan-${name}-`);
    dirs.push(own);
    dataDir = own.path;
  }
  const cli = startCli(
    ["up", "--port", "0", "--replicas-share", options.databaseUrl, "--data-dir", dataDir, "--repo", options.repo, ...(options.args ?? [])],
    { CAPSTAN_LOG_LEVEL: "info", ...options.env },
  );
  const [, url] = await cli.waitFor(/capstan is up: (http:\/\/\S+)/, 60_000);
  return {
    name,
    cli,
    url: url!,
    alive: () => cli.child.exitCode === null && cli.child.signalCode === null,
    leadership: async () => {
      try {
        const response = await fetch(`${url}/api/status`, { signal: AbortSignal.timeout(1_000) });
        if (!response.ok) return null;
        const body = (await response.json()) as { leadership?: unknown };
        return leadershipSchema.parse(body.leadership);
      } catch {
        return null;
      }
    },
  };
}

async function agreedLeader(among: Replica[], timeoutMs: number): Promise<Replica> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const alive = among.filter((replica) => replica.alive());
    const views = await Promise.all(alive.map((replica) => replica.leadership()));
    const leaders = alive.filter((_, index) => views[index]?.role === "leader");
    if (leaders.length === 1 && views.every((view) => view !== null && view.leader?.replica === views[alive.indexOf(leaders[0]!)]!.replica)) {
      return leaders[0]!;
    }
    last = JSON.stringify(views);
    if (Date.now() > deadline) throw new Error(`no agreed leader within ${timeoutMs} ms; last views: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function firstLeader(among: Replica[], timeoutMs: number): Promise<Replica> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = among.filter((replica) => replica.alive());
    const views = await Promise.all(alive.map((replica) => replica.leadership()));
    const leader = alive.find((_, index) => views[index]?.role === "leader");
    if (leader) return leader;
    if (Date.now() > deadline) throw new Error(`no replica became leader within ${timeoutMs} ms; last views: ${JSON.stringify(views)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
