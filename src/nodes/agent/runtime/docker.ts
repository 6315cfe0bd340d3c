import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { silentLogger } from "../../../logging.ts";
import type { ResourceUsage, RuntimeName } from "../../protocol.ts";
import { cgroupPids, pidsUsage, type UsageSample } from "../proc.ts";
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
 * The docker / podman runtime, driven through the CLI. Containers carry the
 * labels capstan.agent and capstan.container, so a restarted agent finds its
 * own. The agent copies `logs -f` into the container's log file through a
 * pipe: if the agent dies the copier dies with its next write, and the next
 * agent re-attaches from the log file's last write, so nothing is doubled.
 */

export const AGENT_LABEL = "capstan.agent";
export const CONTAINER_LABEL = "capstan.container";
const EXEC_OUTPUT_LIMIT = 4 * 1024;
/** Variables the CLI itself reads: these travel in an env file, so they neither redirect the CLI nor show in `ps`. */
const CLI_ENVIRONMENT = /^(DOCKER_|CONTAINER_|CONTAINERS_|PODMAN_|XDG_)|^(HOME|PATH|TMPDIR|REGISTRY_AUTH_FILE)$/;

export interface DockerRuntimeOptions {
  cli: "docker" | "podman";
  log?: Logger;
}

/** The container name of a capstan container id (`<podUid>.<container>`). */
export function dockerContainerName(id: string): string {
  return `capstan-${id.replace(/[^a-zA-Z0-9_.-]/g, "_")}`;
}

export function createDockerRuntime(options: DockerRuntimeOptions): ContainerRuntime {
  const cli = new Cli(options.cli);
  const log = options.log ?? silentLogger;
  return {
    name: options.cli,
    start: (spec) => startContainer(cli, spec, log),
    adopt: (record, spec) => adoptContainer(cli, record, spec, log),
    async list(agentId) {
      const ids = (await cli.run(["ps", "-q", "--no-trunc", "--filter", `label=${AGENT_LABEL}=${agentId}`])).stdout.split("\n").filter(Boolean);
      if (ids.length === 0) return [];
      const records: ContainerRecord[] = [];
      for (const state of await cli.inspectContainers(ids)) {
        const id = state.Config?.Labels?.[CONTAINER_LABEL];
        if (id === undefined || !state.State?.Running) continue;
        records.push(recordOf(options.cli, id, state));
      }
      return records;
    },
    async kill(record) {
      await cli.run(["rm", "-f", record.containerId ?? dockerContainerName(record.id)]);
    },
  };
}

// ------------------------------------------------------------ the CLI

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they arrived, truncated to the requested limit. */
  output: string;
  timedOut: boolean;
}

/** What `inspect` tells (the fields used; docker and podman agree on them). */
interface InspectedContainer {
  Id: string;
  Config?: { Labels?: Record<string, string> | null };
  State?: { Running?: boolean; Pid?: number; ExitCode?: number; OOMKilled?: boolean; StartedAt?: string; FinishedAt?: string };
}

class Cli {
  constructor(readonly name: RuntimeName) {}

  /** Runs the CLI to completion; never rejects (a CLI that cannot start is exit code null). */
  run(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; outputLimit?: number; background?: boolean } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = spawn(this.name, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const combined: Buffer[] = [];
      let combinedBytes = 0;
      const limit = options.outputLimit ?? Number.POSITIVE_INFINITY;
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        into.push(chunk);
        if (combinedBytes < limit) {
          const kept = chunk.subarray(0, limit - combinedBytes);
          combined.push(kept);
          combinedBytes += kept.length;
        }
      };
      child.stdout.on("data", collect(stdout));
      child.stderr.on("data", collect(stderr));
      // A watcher that lasts as long as the container must not keep a stopping agent alive.
      if (options.background) unrefAll(child);
      let timedOut = false;
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              child.kill("SIGKILL");
            }, options.timeoutMs);
      const finish = (code: number | null, error?: Error): void => {
        clearTimeout(timer);
        resolve({
          code,
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8") + (error ? error.message : ""),
          output: Buffer.concat(combined).toString("utf8"),
          timedOut,
        });
      };
      child.once("error", (error) => finish(null, error));
      child.once("close", (code) => finish(code));
    });
  }

  async inspectContainers(names: string[]): Promise<InspectedContainer[]> {
    const result = await this.run(["inspect", "--type", "container", ...names], { timeoutMs: 30_000 });
    // With several names, a missing one fails the command but the others are still printed.
    try {
      const parsed: unknown = JSON.parse(result.stdout || "[]");
      return Array.isArray(parsed) ? (parsed as InspectedContainer[]) : [];
    } catch {
      return [];
    }
  }
}

function recordOf(runtime: RuntimeName, id: string, state: InspectedContainer): ContainerRecord {
  const pid = state.State?.Pid;
  return {
    runtime,
    id,
    ...(pid ? { pid } : {}),
    containerId: state.Id,
    startedAt: state.State?.StartedAt && !state.State.StartedAt.startsWith("0001") ? state.State.StartedAt : new Date().toISOString(),
  };
}

// ------------------------------------------------------------ start and adopt

async function startContainer(cli: Cli, spec: LaunchSpec, log: Logger): Promise<ContainerHandle> {
  if (!spec.image) throw new ContainerStartError("CreateContainerError", "a container of the docker runtime needs an image");
  const name = dockerContainerName(spec.id);
  await cli.run(["rm", "-f", name], { timeoutMs: 60_000 });

  const image = await cli.run(["image", "inspect", "--format", "{{.Id}}", spec.image], { timeoutMs: 30_000 });
  if (image.code !== 0) throw imageError(spec.image, image.stderr);

  const env: NodeJS.ProcessEnv = { ...process.env };
  const args = ["run", "-d", "--name", name, "--label", `${AGENT_LABEL}=${spec.agentId}`, "--label", `${CONTAINER_LABEL}=${spec.id}`];
  args.push("--label", `capstan.pod=${spec.namespace}/${spec.podName}`, "--pull", "never");
  const cliNamed: string[] = [];
  for (const [key, value] of Object.entries(spec.env)) {
    if (CLI_ENVIRONMENT.test(key)) {
      // Names the CLI itself reads cannot travel through its environment: they go in a 0600 env file, removed after the run.
      if (value.includes("\n")) throw new ContainerStartError("CreateContainerError", `environment variable ${key} holds a newline, which the ${cli.name} CLI cannot pass`);
      cliNamed.push(`${key}=${value}`);
    } else {
      // The value reaches the CLI through its environment, never its argv (ps shows argv to every user).
      args.push("-e", key);
      env[key] = value;
    }
  }
  if (spec.workingDir) args.push("-w", spec.workingDir);
  // The engine writes its own /etc/hosts for the container: the aliases go into it, as the kubelet's do.
  for (const alias of spec.hostAliases ?? []) {
    for (const hostname of alias.hostnames) args.push("--add-host", `${hostname}:${alias.ip}`);
  }
  for (const mount of spec.mounts) args.push("-v", `${mount.hostPath}:${mount.containerPath}${mount.readOnly ? ":ro" : ""}`);
  for (const port of spec.ports) {
    if (port.hostPort > 0) args.push("-p", `${port.hostPort}:${port.containerPort}/${port.protocol.toLowerCase()}`);
  }
  if (spec.limits?.memoryBytes) args.push("--memory", String(Math.floor(spec.limits.memoryBytes)));
  if (spec.limits?.cpuMillis) args.push("--cpus", (spec.limits.cpuMillis / 1000).toFixed(3));
  // A command replaces the image's entrypoint and cmd alike (argv is command + args); none runs the image's own.
  if (spec.argv.length > 0) args.push("--entrypoint", spec.argv[0]!, spec.image, ...spec.argv.slice(1));
  else args.push(spec.image);

  await mkdir(dirname(spec.logPath), { recursive: true });
  const envFile = cliNamed.length > 0 ? join(dirname(spec.logPath), `.env-${randomBytes(6).toString("hex")}`) : undefined;
  if (envFile) {
    await writeFile(envFile, `${cliNamed.join("\n")}\n`, { mode: 0o600 });
    args.splice(1, 0, "--env-file", envFile);
  }
  const run = await cli.run(args, { env, timeoutMs: 120_000 }).finally(() => (envFile ? rm(envFile, { force: true }) : undefined));
  if (run.code !== 0) {
    await cli.run(["rm", "-f", name], { timeoutMs: 60_000 });
    throw runError(spec.image, run.stderr);
  }
  const [state] = await cli.inspectContainers([name]);
  const record = recordOf(cli.name, spec.id, state ?? { Id: run.stdout.trim() });
  log.debug({ container: spec.id, name, containerId: record.containerId, pid: record.pid }, "started a docker container");
  return new DockerContainer(cli, record, name, spec.logPath, log);
}

async function adoptContainer(cli: Cli, record: ContainerRecord, spec: LaunchSpec, log: Logger): Promise<ContainerHandle | null> {
  const name = dockerContainerName(record.id);
  const [state] = await cli.inspectContainers([record.containerId ?? name]);
  if (!state || state.Config?.Labels?.[CONTAINER_LABEL] !== record.id) return null;
  const since = await lastWrite(spec.logPath);
  if (!state.State?.Running) {
    // Ended while no agent watched: keep what it wrote meanwhile, then clear it away.
    await copyLogs(cli, name, spec.logPath, since, log);
    await cli.run(["rm", "-f", name], { timeoutMs: 60_000 });
    return null;
  }
  log.debug({ container: record.id, name }, "adopted a docker container");
  return new DockerContainer(cli, { ...record, containerId: state.Id }, name, spec.logPath, log, since);
}

function imageError(image: string, stderr: string): ContainerStartError {
  if (/invalid reference format/i.test(stderr)) return new ContainerStartError("InvalidImageName", `Failed to apply default image tag "${image}": invalid reference format`);
  return new ContainerStartError("ErrImageNeverPull", `Container image "${image}" is not present with pull policy of Never`);
}

function runError(image: string, stderr: string): ContainerStartError {
  if (/no such image|not present|unable to find image|pull access denied|image not known/i.test(stderr)) return imageError(image, stderr);
  if (/invalid reference format/i.test(stderr)) return imageError(image, stderr);
  // OCI runtime failures end with the part that matters: `exec: "foo": executable file not found in $PATH: unknown`.
  const exec = /(exec: "[^"]*": [^\n]*?)(?:: unknown)?\.?\s*$/m.exec(stderr);
  return new ContainerStartError("RunContainerError", exec?.[1] ?? (stderr.trim() || "the container runtime failed to start the container"));
}

/** When the agent last wrote the log file, as `--since` takes it (Unix seconds with nanoseconds); now when there is none. */
async function lastWrite(logPath: string): Promise<string> {
  const stats = await stat(logPath, { bigint: true }).catch(() => undefined);
  const nanoseconds = stats?.mtimeNs ?? BigInt(Date.now()) * 1_000_000n;
  return `${nanoseconds / 1_000_000_000n}.${String(nanoseconds % 1_000_000_000n).padStart(9, "0")}`;
}

/** `logs` (without -f) appended to the log file. */
async function copyLogs(cli: Cli, name: string, logPath: string, since: string, log: Logger): Promise<void> {
  const follower = new LogCopier(cli, name, logPath, since, false, log);
  await follower.done;
}

// ------------------------------------------------------------ log copying

/** One `logs [-f]` process whose stdout and stderr are appended to the log file. */
class LogCopier {
  readonly done: Promise<void>;
  readonly #kill: () => void;

  constructor(cli: Cli, name: string, logPath: string, since: string | undefined, follow: boolean, log: Logger) {
    const args = ["logs", ...(follow ? ["-f"] : []), ...(since ? ["--since", since] : []), name];
    const child = spawn(cli.name, args, { stdio: ["ignore", "pipe", "pipe"] });
    const file = createWriteStream(logPath, { flags: "a" });
    file.on("error", (error) => log.warn({ err: error, logPath }, "could not write a container log"));
    child.stdout.pipe(file, { end: false });
    child.stderr.pipe(file, { end: false });
    // The agent may exit while this copies; the copier then dies of a broken pipe.
    unrefAll(child);
    this.#kill = () => child.kill("SIGKILL");
    this.done = new Promise((resolve) => {
      const finish = (): void => {
        file.end(() => resolve());
      };
      child.once("error", (error) => {
        log.warn({ err: error }, "could not run the container runtime's logs command");
        finish();
      });
      child.once("close", finish);
    });
  }

  kill(): void {
    this.#kill();
  }
}

// ------------------------------------------------------------ the handle

class DockerContainer implements ContainerHandle {
  readonly exited: Promise<ExitInfo>;
  #ended = false;
  #stopping: Promise<ExitInfo> | undefined;
  #lastSample: UsageSample | undefined;
  #copying: Promise<void>;
  #copier: LogCopier | undefined;

  constructor(
    private readonly cli: Cli,
    readonly record: ContainerRecord,
    private readonly name: string,
    private readonly logPath: string,
    private readonly log: Logger,
    since?: string,
  ) {
    this.exited = this.#waitForExit();
    this.#copying = this.#copyLogs(since);
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.#stopping ??= (async () => {
      if (this.#ended) return this.exited;
      const seconds = Math.max(0, Math.ceil(graceMs / 1000));
      await this.cli.run(["stop", "-t", String(seconds), this.name], { timeoutMs: graceMs + 60_000 });
      return this.exited;
    })();
    return this.#stopping;
  }

  async usage(): Promise<ResourceUsage | undefined> {
    const pid = this.record.pid;
    if (this.#ended || pid === undefined) return undefined;
    // The container's own cgroup lists every process in it; its init's process group would not.
    const pids = (await cgroupPids(pid)) ?? [pid];
    const reading = await pidsUsage(pids, this.#lastSample);
    if (reading.processCount === 0) return undefined;
    this.#lastSample = reading.sample;
    return reading.usage;
  }

  async exec(argv: string[], timeoutMs: number): Promise<ExecResult> {
    const result = await this.cli.run(["exec", this.name, ...argv], { timeoutMs, outputLimit: EXEC_OUTPUT_LIMIT });
    return { exitCode: result.timedOut ? null : result.code, output: result.output, timedOut: result.timedOut };
  }

  /** Follows the logs until the container ends, re-attaching (from the last write) if the copier dies first (a daemon restart). */
  async #copyLogs(since: string | undefined): Promise<void> {
    let from = since;
    for (;;) {
      this.#copier = new LogCopier(this.cli, this.name, this.logPath, from, true, this.log);
      await this.#copier.done;
      if (this.#ended) return;
      const [state] = await this.cli.inspectContainers([this.name]);
      if (!state?.State?.Running) return;
      await delay(1_000);
      from = await lastWrite(this.logPath);
    }
  }

  async #waitForExit(): Promise<ExitInfo> {
    let waitedCode: number | undefined;
    for (;;) {
      const waited = await this.cli.run(["wait", this.name], { background: true });
      if (waited.code === 0) {
        const printed = Number.parseInt(waited.stdout.trim(), 10);
        if (Number.isInteger(printed)) waitedCode = printed;
        break;
      }
      const found = await this.cli.run(["inspect", "--type", "container", "--format", "{{.State.Running}}", this.name], { timeoutMs: 30_000 });
      if (found.code === 0 ? found.stdout.trim() !== "true" : /no such (container|object)/i.test(found.stderr)) break;
      // The daemon restarting or unreachable: the container may well live on.
      await delay(1_000);
    }
    const [state] = await this.cli.inspectContainers([this.name]);
    this.#ended = true;
    // The copier ends with the container; let it drain before the container (and its log) is removed.
    await Promise.race([this.#copying, delay(5_000)]);
    this.#copier?.kill();
    await this.cli.run(["rm", "-f", this.name], { timeoutMs: 60_000 });
    // Removed by someone else (docker rm -f): then only `wait` saw the code.
    const exitCode = state?.State?.ExitCode ?? waitedCode ?? null;
    const finished = state?.State?.FinishedAt ? new Date(state.State.FinishedAt) : new Date();
    return {
      exitCode,
      reason: state?.State?.OOMKilled ? "OOMKilled" : exitCode === 0 ? "Completed" : exitCode === null ? "Unknown" : "Error",
      finishedAt: Number.isNaN(finished.getTime()) || finished.getUTCFullYear() < 2000 ? new Date() : finished,
    };
  }
}

function unrefAll(child: ChildProcessByStdio<null, Readable, Readable>): void {
  child.unref();
  (child.stdout as Readable & { unref?: () => void }).unref?.();
  (child.stderr as Readable & { unref?: () => void }).unref?.();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
