import { readFileSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unmountUnder } from "../../src/nodes/agent/tmpfs.ts";

/** The command that runs this checkout's capstan-agent, as a Node's `agentPath` would name it. */
export const agentCommand = `${process.execPath} ${join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "capstan-agent.js")}`;

/** A fresh state dir for one real capstan-agent; `cleanup` kills the agent and every process it started, and removes its files. */
export async function agentStateDir(): Promise<{ stateDir: string; cleanup(): Promise<void> }> {
  const stateDir = await mkdtemp(join(tmpdir(), "capstan-agent-"));
  return { stateDir, cleanup: () => killAgent(stateDir, { remove: true }) };
}

/** The pid the agent in `stateDir` wrote, if it runs. */
export async function agentPid(stateDir: string): Promise<number | undefined> {
  const text = await readFile(join(stateDir, "agent.pid"), "utf8").catch(() => "");
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && alive(pid) ? pid : undefined;
}

/** The agent id in the state file (it marks every process the agent starts). */
export async function agentId(stateDir: string): Promise<string | undefined> {
  const text = await readFile(join(stateDir, "state.json"), "utf8").catch(() => "");
  return text ? (JSON.parse(text) as { agentId: string }).agentId : undefined;
}

/** Pids of live processes carrying CAPSTAN_AGENT_ID=<id> (group leaders and their children). */
export async function processesOfAgent(id: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "latin1").catch(() => "");
    if (!environ.split("\0").includes(`CAPSTAN_AGENT_ID=${id}`)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
    pids.push(Number(entry));
  }
  return pids;
}

/** SIGKILLs the agent and all its pods' processes; with `remove`, deletes its state dir and tmpfs secrets too. */
export async function killAgent(stateDir: string, options: { remove?: boolean; podsToo?: boolean } = {}): Promise<void> {
  const pid = await agentPid(stateDir);
  if (pid) process.kill(pid, "SIGKILL");
  const id = await agentId(stateDir);
  if (id && (options.remove || options.podsToo)) {
    for (const child of await processesOfAgent(id)) {
      try {
        process.kill(-child, "SIGKILL");
      } catch {
        try {
          process.kill(child, "SIGKILL");
        } catch {
          // gone already
        }
      }
    }
  }
  if (options.remove) {
    // An agent still starting (a `serve --daemon` under way when the test ended) has no pid file yet: find it,
    // and its starter, by the state dir on their command lines; twice, in case one was just spawning the other.
    for (let pass = 0; pass < 2; pass += 1) {
      for (const straggler of await processesServing(stateDir)) tryKill(straggler);
      if (pass === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Memory emptyDirs of pods that were not stopped are still tmpfs mounts there.
    if (id) await unmountUnder(`/dev/shm/capstan-${id}`);
    await unmountUnder(stateDir);
    if (id) await rm(`/dev/shm/capstan-${id}`, { recursive: true, force: true });
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** Pids of capstan-agent processes (serve, its daemon starter, connect) given `--state-dir <stateDir>`. */
async function processesServing(stateDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0");
    const at = argv.indexOf("--state-dir");
    if (at !== -1 && argv[at + 1] === stateDir) pids.push(Number(entry));
  }
  return pids;
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is not running.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}
