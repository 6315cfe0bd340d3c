import { readdir, readFile } from "node:fs/promises";
import { agentCommand, agentId, agentStateDir } from "../helpers/agent.ts";
import { startCli, type RunningCli } from "../helpers/cli.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { requireSshd, sshNodeManifest, startSshd, type SshdServer } from "../helpers/sshd.ts";
import { openAgentView, type AgentView } from "./agent-view.ts";

/**
 * Real SSH nodes (sshd on 127.0.0.x, each with its real agent) and a real
 * `capstan up` process on a given database, which a test may SIGKILL and
 * start again on the same database and data dir, as an operator's host
 * would after a crash. test/helpers/e2e-cluster.ts runs its control plane in
 * the test's own process, which cannot be SIGKILLed.
 */
export interface ProcessCluster {
  repo: TestRepo;
  dataDir: string;
  stateDirs: string[];
  /** The running `capstan up`, if any. */
  controlPlane(): RunningCli | undefined;
  /** Starts `capstan up`; resolves once it printed its URL. */
  startControlPlane(): Promise<string>;
  /** SIGKILLs `capstan up` and waits for it to be gone. */
  killControlPlane(): Promise<void>;
  /** A socket of the test's own on each node's agent (they exist once the control plane started them). */
  agentViews(): Promise<AgentView[]>;
  /** Pids of the processes carrying each agent's mark, by node index. */
  markedProcesses(): Promise<number[][]>;
  stop(): Promise<void>;
}

export async function startProcessCluster(options: { databaseUrl: string; nodes: number; files: Record<string, string> }): Promise<ProcessCluster> {
  requireSshd();
  const cleanups: Array<() => Promise<unknown>> = [];
  let cli: RunningCli | undefined;
  let views: AgentView[] | undefined;
  const stop = async () => {
    views?.forEach((view) => view.close());
    await cli?.stop("SIGKILL");
    // Agents (and their pods) before sshd, the repo and data dir last: reverse order of creation.
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const servers: SshdServer[] = [];
    const stateDirs: string[] = [];
    for (let index = 0; index < options.nodes; index += 1) {
      const server = await startSshd({ address: `127.0.0.${index + 2}` });
      cleanups.push(() => server.stop());
      servers.push(server);
    }
    for (let index = 0; index < options.nodes; index += 1) {
      const agent = await agentStateDir();
      cleanups.push(() => agent.cleanup());
      stateDirs.push(agent.stateDir);
    }
    const repo = await createRepo();
    cleanups.unshift(() => repo.cleanup());
    const dataDir = await tempDir("capstan-fault-cp-");
    cleanups.unshift(() => dataDir.cleanup());
    const nodeFiles = Object.fromEntries(
      servers.map((server, index) => [`nodes/node-${index}.yaml`, sshNodeManifest(`node-${index}`, server, { stateDir: stateDirs[index]!, agentCommand })]),
    );
    await repo.writeAll({ ...nodeFiles, ...options.files });
    await repo.commit("nodes and the workload");

    const cluster: ProcessCluster = {
      repo,
      dataDir: dataDir.path,
      stateDirs,
      controlPlane: () => cli,
      async startControlPlane() {
        cli = startCli(["up", "--port", "0", "--data-dir", dataDir.path, "--repo", repo.dir, "--poll-interval", "0.5"], {
          DATABASE_URL: options.databaseUrl,
          CAPSTAN_LOG_LEVEL: "warn",
          CAPSTAN_RESYNC_INTERVAL: "5",
        });
        const [, url] = await cli.waitFor(/capstan is up: (http:\/\/\S+)/, 60_000);
        return url!;
      },
      async killControlPlane() {
        await cli?.stop("SIGKILL");
      },
      async agentViews() {
        views ??= await Promise.all(stateDirs.map((stateDir) => openAgentView(stateDir)));
        return views;
      },
      async markedProcesses() {
        const ids = await Promise.all(stateDirs.map((stateDir) => agentId(stateDir)));
        return markedBy(ids);
      },
      stop,
    };
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * One pass over /proc: the live processes carrying CAPSTAN_AGENT_ID=<id>, per
 * id (as test/helpers/agent.ts processesOfAgent, once for every agent, so
 * that a 100 ms watch keeps its pace).
 */
async function markedBy(ids: Array<string | undefined>): Promise<number[][]> {
  const found: number[][] = ids.map(() => []);
  const marks = new Map<string, number>(ids.flatMap((id, index) => (id ? [[`CAPSTAN_AGENT_ID=${id}`, index] as const] : [])));
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "latin1").catch(() => "");
    const mark = environ.split("\0").find((variable) => variable.startsWith("CAPSTAN_AGENT_ID="));
    const index = mark === undefined ? undefined : marks.get(mark);
    if (index === undefined) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (stat === "" || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
    found[index]!.push(Number(entry));
  }
  return found;
}
