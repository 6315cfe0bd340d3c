import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, stat } from "node:fs/promises";
import { dirname, posix } from "node:path";
import type { Logger } from "pino";
import { silentLogger } from "../../../logging.ts";
import type { ResourceUsage } from "../../protocol.ts";
import { groupUsage, isAlive, listPids, processStartedAt, readEnviron, readProcStat, readProcStatSync, readStartTicks, type UsageSample } from "../proc.ts";
import { resolveExecutable } from "./executable.ts";
import { hostPathOf, mountNamespaceCommand, mountNamespaceOf, needsMountNamespace, nsenterCommand } from "./mount-namespace.ts";
import {
  ContainerStartError,
  type ContainerHandle,
  type ContainerRecord,
  type ContainerRuntime,
  type ExecResult,
  type ExitInfo,
  type LaunchSpec,
} from "./types.ts";

/**
 * The process runtime: each container is a host process in its own process
 * group (pid = pgid), writing straight to its log file through an O_APPEND
 * descriptor, so it outlives the agent and a restarted agent re-adopts it by
 * pid + start ticks. Mounts whose container path differs from the host path
 * are bind mounts in a private mount namespace (root only).
 */

// Command lookup is executable.ts; still importable from here.
export { resolveExecutable } from "./executable.ts";

/** Marks on every container process's environment: list() finds the agent's own processes by them. */
export const AGENT_ID_ENV = "CAPSTAN_AGENT_ID";
export const CONTAINER_ID_ENV = "CAPSTAN_CONTAINER_ID";

/** Exec probe and hook output kept (the first bytes, as the kubelet keeps). */
const EXEC_OUTPUT_LIMIT = 4 * 1024;

export interface ProcessRuntimeOptions {
  log?: Logger;
  /** How often an adopted process (not our child: no exit event) is checked for having ended. */
  stopPollMs?: number;
}

export function createProcessRuntime(options: ProcessRuntimeOptions = {}): ContainerRuntime {
  const log = options.log ?? silentLogger;
  const pollMs = options.stopPollMs ?? 200;
  return {
    name: "process",
    start: (spec) => startProcess(spec, log),
    adopt: (record, spec) => adoptProcess(record, spec, pollMs, log),
    list: listProcesses,
    async kill(record) {
      if (record.pid !== undefined) await killGroupIfOurs(record.pid, record.startTicks, "SIGKILL");
    },
  };
}

// ------------------------------------------------------------ start

async function startProcess(launch: LaunchSpec, log: Logger): Promise<ContainerHandle> {
  if (launch.argv.length === 0) throw new ContainerStartError("CreateContainerError", "no command specified: a process container needs a command");
  const spec = withHostsFile(launch);
  const workingDir = spec.workingDir ?? "/";
  const namespaced = await needsMountNamespace(spec.mounts);
  const hostView = namespaced ? hostPathOf(spec.mounts) : (path: string) => path;

  const workingDirStats = await stat(hostView(workingDir)).catch(() => undefined);
  if (!workingDirStats?.isDirectory()) {
    throw new ContainerStartError("CreateContainerError", `working directory "${workingDir}" does not exist or is not a directory`);
  }
  const executable = await resolveExecutable(spec.argv[0]!, spec.env, workingDir, hostView);

  let file = executable;
  let args = spec.argv.slice(1);
  let cwd = workingDir;
  if (namespaced) {
    ({ file, args } = await mountNamespaceCommand(spec.mounts, workingDir, [executable, ...args]));
    cwd = "/";
  }

  await mkdir(dirname(spec.logPath), { recursive: true });
  const logFile = await open(spec.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      argv0: namespaced ? undefined : spec.argv[0],
      cwd,
      env: { ...spec.env, [AGENT_ID_ENV]: spec.agentId, [CONTAINER_ID_ENV]: spec.id },
      // A new process group (pid = pgid): stop() signals the whole group.
      detached: true,
      stdio: ["ignore", logFile.fd, logFile.fd],
    });
  } catch (error) {
    await logFile.close();
    throw error;
  }
  // Listeners before any await: 'error' comes on the next tick, and an unheard one would crash the agent.
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  // The child has its own copy of the descriptor.
  await logFile.close();
  const pid = child.pid;
  if (pid === undefined) {
    const error = (await spawnError) as NodeJS.ErrnoException;
    throw new ContainerStartError("RunContainerError", `exec: "${spec.argv[0]}": ${error.code ?? error.message}`);
  }
  const startTicks = readProcStatSync(pid)?.startTicks;
  // The agent may exit while its containers run on.
  child.unref();
  const record: ContainerRecord = { runtime: "process", id: spec.id, pid, startTicks, startedAt: new Date().toISOString() };
  // The command only: arguments may hold $(VAR)-expanded Secret values, and logs are read by more people than the pod's owner.
  log.debug({ container: spec.id, pid, command: spec.argv[0], namespaced }, "started a process container");

  const exited = exit.then(async ({ code, signal }): Promise<ExitInfo> => {
    // Kubernetes ends the whole container with its main process: so do we.
    await killGroupIfOurs(pid, startTicks, "SIGKILL").catch((error: unknown) =>
      log.warn({ err: error, container: spec.id, pid }, "could not kill what remains of a process container's group"),
    );
    return {
      exitCode: code,
      ...(signal ? { signal } : {}),
      reason: code === 0 ? "Completed" : "Error",
      finishedAt: new Date(),
    };
  });
  return new ProcessContainer(record, pid, startTicks, exited, spec, namespaced);
}

/**
 * The pod's hosts file (hostAliases) bound over /etc/hosts, where the agent
 * can mount (root) and the pod does not mount something there itself;
 * otherwise the process reads the node's /etc/hosts and finds the pod's
 * file in CAPSTAN_HOSTS_FILE.
 */
function withHostsFile(spec: LaunchSpec): LaunchSpec {
  if (!spec.hostsFile || process.getuid?.() !== 0) return spec;
  if (spec.mounts.some((mount) => posix.resolve(mount.containerPath) === "/etc/hosts")) return spec;
  return { ...spec, mounts: [...spec.mounts, { hostPath: spec.hostsFile, containerPath: "/etc/hosts", readOnly: true }] };
}

// ------------------------------------------------------------ adopt, list, kill

async function adoptProcess(record: ContainerRecord, spec: LaunchSpec, pollMs: number, log: Logger): Promise<ContainerHandle | null> {
  const { pid, startTicks } = record;
  if (pid === undefined || startTicks === undefined || !(await isAlive(pid, startTicks))) return null;
  const environ = await readEnviron(pid);
  if (environ && environ.get(CONTAINER_ID_ENV) !== record.id) return null;
  const namespaced = (await mountNamespaceOf(pid)) !== (await mountNamespaceOf(process.pid));

  // Not our child: no exit event, and its status goes to whoever reaps it.
  const exited = new Promise<ExitInfo>((resolve) => {
    const timer = setInterval(() => {
      void isAlive(pid, startTicks).then(async (alive) => {
        if (alive) return;
        clearInterval(timer);
        await killGroupIfOurs(pid, startTicks, "SIGKILL").catch((error: unknown) =>
          log.warn({ err: error, container: record.id, pid }, "could not kill what remains of a process container's group"),
        );
        resolve({ exitCode: null, reason: "Unknown", finishedAt: new Date() });
      });
    }, pollMs);
    timer.unref();
  });
  log.debug({ container: record.id, pid }, "adopted a process container");
  return new ProcessContainer(record, pid, startTicks, exited, spec, namespaced);
}

async function listProcesses(agentId: string): Promise<ContainerRecord[]> {
  const records: ContainerRecord[] = [];
  for (const pid of await listPids()) {
    const stat = await readProcStat(pid);
    if (!stat || stat.pgrp !== pid || stat.state === "Z") continue;
    const environ = await readEnviron(pid);
    const id = environ?.get(CONTAINER_ID_ENV);
    if (environ?.get(AGENT_ID_ENV) !== agentId || id === undefined) continue;
    const startedAt = await processStartedAt(stat.startTicks);
    records.push({ runtime: "process", id, pid, startTicks: stat.startTicks, startedAt: startedAt.toISOString() });
  }
  return records;
}

/**
 * Signals process group `pgid` unless its leader's pid now names another
 * process (start ticks differ). A leader already gone is fine: while any
 * member lives, the kernel does not hand the group's id to a new process.
 */
async function killGroupIfOurs(pgid: number, startTicks: string | undefined, signal: NodeJS.Signals): Promise<void> {
  if (startTicks !== undefined) {
    const current = await readStartTicks(pgid);
    if (current !== undefined && current !== startTicks) return;
  }
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

// ------------------------------------------------------------ the handle

class ProcessContainer implements ContainerHandle {
  #stopping: Promise<ExitInfo> | undefined;
  #ended = false;
  #lastSample: UsageSample | undefined;

  constructor(
    readonly record: ContainerRecord,
    private readonly pgid: number,
    private readonly startTicks: string | undefined,
    readonly exited: Promise<ExitInfo>,
    private readonly spec: LaunchSpec,
    /** Runs in a private mount namespace: exec enters it. */
    private readonly namespaced: boolean,
  ) {
    void exited.then(() => {
      this.#ended = true;
    });
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.#stopping ??= (async () => {
      if (this.#ended) return this.exited;
      await killGroupIfOurs(this.pgid, this.startTicks, "SIGTERM");
      const timer = setTimeout(() => void killGroupIfOurs(this.pgid, this.startTicks, "SIGKILL").catch(() => undefined), graceMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#stopping;
  }

  async usage(): Promise<ResourceUsage | undefined> {
    if (this.#ended) return undefined;
    const reading = await groupUsage(this.pgid, this.#lastSample);
    if (reading.processCount === 0) return undefined;
    this.#lastSample = reading.sample;
    return reading.usage;
  }

  async exec(argv: string[], timeoutMs: number): Promise<ExecResult> {
    if (argv.length === 0) return { exitCode: 127, output: "exec: no command", timedOut: false };
    const workingDir = this.spec.workingDir ?? "/";
    if (this.namespaced) {
      const nsenter = await nsenterCommand(this.pgid, workingDir, argv);
      if (!nsenter) return { exitCode: 127, output: "exec in a container with bind mounts needs nsenter (util-linux) on the node", timedOut: false };
      return runCaptured(nsenter.file, nsenter.args, { env: this.spec.env, cwd: "/", timeoutMs });
    }
    let executable: string;
    try {
      executable = await resolveExecutable(argv[0]!, this.spec.env, workingDir);
    } catch (error) {
      return { exitCode: 127, output: (error as Error).message, timedOut: false };
    }
    return runCaptured(executable, argv.slice(1), { env: this.spec.env, cwd: workingDir, timeoutMs, argv0: argv[0] });
  }
}

/**
 * Runs a command in its own process group with combined output captured (the
 * first EXEC_OUTPUT_LIMIT bytes); on timeout, and after it ends, the whole
 * group is killed so nothing it started outlives it.
 */
function runCaptured(
  file: string,
  args: string[],
  options: { env: Record<string, string>; cwd: string; timeoutMs: number; argv0?: string },
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: options.env, cwd: options.cwd, detached: true, stdio: ["ignore", "pipe", "pipe"], argv0: options.argv0 });
    const chunks: Buffer[] = [];
    let captured = 0;
    const collect = (chunk: Buffer): void => {
      if (captured >= EXEC_OUTPUT_LIMIT) return;
      const kept = chunk.subarray(0, EXEC_OUTPUT_LIMIT - captured);
      chunks.push(kept);
      captured += kept.length;
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    let timedOut = false;
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    let settled = false;
    const finish = (exitCode: number | null, extra = ""): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup();
      resolve({ exitCode, output: Buffer.concat(chunks).toString("utf8") + extra, timedOut });
    };
    child.once("error", (error) => finish(127, `exec: "${options.argv0 ?? file}": ${error.message}`));
    child.once("exit", (code) => {
      // Output still in flight arrives before 'close'; a descendant that escaped the group could hold the pipe open forever.
      const grace = setTimeout(() => finish(code), 200);
      child.once("close", () => {
        clearTimeout(grace);
        finish(code);
      });
    });
  });
}
