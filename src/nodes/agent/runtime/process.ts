import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, open, readlink, stat } from "node:fs/promises";
import { dirname, posix } from "node:path";
import type { Logger } from "pino";
import { silentLogger } from "../../../logging.ts";
import type { ResourceUsage } from "../../protocol.ts";
import { groupUsage, isAlive, listPids, processStartedAt, readEnviron, readProcStat, readProcStatSync, readStartTicks, type UsageSample } from "../proc.ts";
import {
  ContainerStartError,
  type ContainerHandle,
  type ContainerRecord,
  type ContainerRuntime,
  type ExecResult,
  type ExitInfo,
  type LaunchSpec,
  type Mount,
} from "./types.ts";

/**
 * The process runtime: each container is a host process in its own process
 * group (pid = pgid), writing straight to its log file through an O_APPEND
 * descriptor, so it outlives the agent and a restarted agent re-adopts it by
 * pid + start ticks. Mounts whose container path differs from the host path
 * are bind mounts in a private mount namespace (root only).
 */

/** Marks on every container process's environment: list() finds the agent's own processes by them. */
export const AGENT_ID_ENV = "CAPSTAN_AGENT_ID";
export const CONTAINER_ID_ENV = "CAPSTAN_CONTAINER_ID";

/** Exec probe and hook output kept (the first bytes, as the kubelet keeps). */
const EXEC_OUTPUT_LIMIT = 4 * 1024;
const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

async function startProcess(spec: LaunchSpec, log: Logger): Promise<ContainerHandle> {
  if (spec.argv.length === 0) throw new ContainerStartError("CreateContainerError", "no command specified: a process container needs a command");
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
  log.debug({ container: spec.id, pid, argv: spec.argv, namespaced }, "started a process container");

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
 * Whether the mounts need a private mount namespace. A mount at its own host
 * path needs nothing, except read-only, which is enforced when we can (root).
 */
async function needsMountNamespace(mounts: readonly Mount[]): Promise<boolean> {
  const moved = mounts.filter((mount) => posix.resolve(mount.containerPath) !== posix.resolve(mount.hostPath));
  const canMount = process.getuid?.() === 0;
  if (moved.length === 0) return canMount && mounts.some((mount) => mount.readOnly);
  if (!canMount) {
    const first = moved[0]!;
    throw new ContainerStartError(
      "CreateContainerError",
      `a bind mount of ${first.hostPath} at ${first.containerPath} needs root (the agent runs as uid ${process.getuid?.()}); ` +
        "run the agent as root or mount the volume at its host path",
    );
  }
  return true;
}

/** Maps a path as the container sees it to where it is on the host (the longest mount prefix wins). */
function hostPathOf(mounts: readonly Mount[]): (path: string) => string {
  const sorted = [...mounts].sort((a, b) => b.containerPath.length - a.containerPath.length);
  return (path) => {
    for (const mount of sorted) {
      const target = posix.resolve(mount.containerPath);
      if (path === target) return mount.hostPath;
      if (path.startsWith(target === "/" ? "/" : `${target}/`)) return posix.join(mount.hostPath, path.slice(target.length));
    }
    return path;
  };
}

/**
 * `unshare --mount` running a small script that bind-mounts each volume and
 * then execs the command, so the pid stays the container's own. Paths travel
 * as positional parameters, never inside the script text.
 */
const MOUNT_SCRIPT = `set -e
mount_bin=$1; mkdir_bin=$2; n=$3; shift 3
while [ "$n" -gt 0 ]; do
  if [ "$1" = dir ]; then "$mkdir_bin" -p -- "$3"; else "$mkdir_bin" -p -- "\${3%/*}/"; [ -e "$3" ] || : >"$3"; fi
  "$mount_bin" --bind -- "$2" "$3"
  if [ "$4" = ro ]; then "$mount_bin" -o remount,bind,ro -- "$3"; fi
  shift 4; n=$((n - 1))
done
cd -- "$1"; shift
exec "$@"`;

async function mountNamespaceCommand(mounts: readonly Mount[], workingDir: string, argv: string[]): Promise<{ file: string; args: string[] }> {
  const [unshare, mountBin, mkdirBin] = await Promise.all(["unshare", "mount", "mkdir"].map((name) => findOnHostPath(name)));
  if (!unshare || !mountBin || !mkdirBin) {
    throw new ContainerStartError("CreateContainerError", "bind mounts of a process container need unshare, mount and mkdir (util-linux, coreutils) on the node");
  }
  // Parents before children, so a nested mount lands inside its parent's.
  const ordered = [...mounts].sort((a, b) => depth(a.containerPath) - depth(b.containerPath));
  const mountArgs: string[] = [];
  for (const mount of ordered) {
    const source = await stat(mount.hostPath).catch(() => undefined);
    if (!source) throw new ContainerStartError("CreateContainerError", `mount source ${mount.hostPath} does not exist`);
    mountArgs.push(source.isDirectory() ? "dir" : "file", mount.hostPath, posix.resolve(mount.containerPath), mount.readOnly ? "ro" : "rw");
  }
  return {
    file: unshare,
    args: ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", MOUNT_SCRIPT, "sh", mountBin, mkdirBin, String(ordered.length), ...mountArgs, workingDir, ...argv],
  };
}

function depth(path: string): number {
  return posix.resolve(path).split("/").filter(Boolean).length;
}

/**
 * Finds argv[0] as execve would through the container's PATH (the agent's
 * when the container sets none); a name with a '/' is taken relative to the
 * working directory. `hostView` maps container paths to host paths.
 */
export async function resolveExecutable(
  name: string,
  env: Record<string, string>,
  workingDir: string,
  hostView: (path: string) => string = (path) => path,
): Promise<string> {
  if (name.includes("/")) {
    const path = posix.resolve(workingDir, name);
    const problem = await executableProblem(hostView(path));
    if (problem === "missing") throw new ContainerStartError("RunContainerError", `exec: "${name}": stat ${path}: no such file or directory`);
    if (problem) throw new ContainerStartError("RunContainerError", `exec: "${name}": ${problem}`);
    return path;
  }
  const searchPath = env.PATH ?? process.env.PATH ?? FALLBACK_PATH;
  for (const dir of searchPath.split(":")) {
    if (dir === "") continue;
    const candidate = posix.resolve(workingDir, dir, name);
    if ((await executableProblem(hostView(candidate))) === undefined) return candidate;
  }
  throw new ContainerStartError("RunContainerError", `exec: "${name}": executable file not found in $PATH`);
}

async function executableProblem(path: string): Promise<"missing" | "is a directory" | "permission denied" | undefined> {
  const stats = await stat(path).catch(() => undefined);
  if (!stats) return "missing";
  if (stats.isDirectory()) return "is a directory";
  try {
    await access(path, constants.X_OK);
    return undefined;
  } catch {
    return "permission denied";
  }
}

async function findOnHostPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? FALLBACK_PATH).split(":")) {
    if (dir === "") continue;
    const candidate = posix.join(dir, name);
    if ((await executableProblem(candidate)) === undefined) return candidate;
  }
  return undefined;
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

async function mountNamespaceOf(pid: number): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
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
      const timer = setTimeout(() => void killGroupIfOurs(this.pgid, this.startTicks, "SIGKILL"), graceMs);
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
      const nsenter = await findOnHostPath("nsenter");
      if (!nsenter) return { exitCode: 127, output: "exec in a container with bind mounts needs nsenter (util-linux) on the node", timedOut: false };
      const script = 'cd -- "$1" && shift && exec "$@"';
      const args = ["--target", String(this.pgid), "--mount", "--", "/bin/sh", "-c", script, "sh", workingDir, ...argv];
      return runCaptured(nsenter, args, { env: this.spec.env, cwd: "/", timeoutMs });
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
