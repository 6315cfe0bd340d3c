import { z } from "zod";
import type { ResourceUsage, RuntimeName } from "../../protocol.ts";

/**
 * The seam between the pod worker (restart policy, probes, hooks) and the
 * thing that actually runs a container: a host process group, or a docker /
 * podman container. Everything a runtime needs arrives resolved in a
 * LaunchSpec; a runtime makes no decisions about restarts or readiness.
 */

export interface Mount {
  /** Directory or file on the host. */
  hostPath: string;
  /** Where the container sees it (for a host process: bind-mounted in a private mount namespace). */
  containerPath: string;
  readOnly: boolean;
}

export interface PortBinding {
  name?: string;
  containerPort: number;
  hostPort: number;
  protocol: "TCP" | "UDP";
}

export interface LaunchSpec {
  /** Unique per container instance on this agent: `<podUid>.<container>`; docker names derive from it. */
  id: string;
  /** Marks every process/container this agent starts, so a restarted agent can find its own (and only its own). */
  agentId: string;
  podUid: string;
  namespace: string;
  podName: string;
  containerName: string;
  /** Set = run in the docker/podman runtime; unset = host process. */
  image?: string;
  /** argv: command + args, already `$(VAR)`-expanded. Empty = the image's entrypoint (image only). */
  argv: string[];
  env: Record<string, string>;
  /** Absolute. */
  workingDir?: string;
  mounts: Mount[];
  ports: PortBinding[];
  /** stdout and stderr are appended here (the runtime opens it O_APPEND; rotation is copy-truncate). */
  logPath: string;
  /**
   * The pod's hosts file (hostAliases), and the aliases themselves: the
   * process runtime binds the file over /etc/hosts where it can (root), the
   * docker runtime passes the aliases as --add-host.
   */
  hostsFile?: string;
  hostAliases?: { ip: string; hostnames: string[] }[];
  /** Limits; enforced where the runtime can (docker: --memory/--cpus). */
  limits?: { cpuMillis?: number; memoryBytes?: number };
}

/** Persisted per running container so that a restarted agent re-adopts instead of starting a duplicate. */
export const containerRecordSchema = z.strictObject({
  runtime: z.enum(["process", "docker", "podman"]),
  id: z.string(),
  /** Process runtime: the group leader's pid (= pgid). Docker: the container's init pid on the host. */
  pid: z.number().int().optional(),
  /** /proc/<pid>/stat field 22 (start time in clock ticks): tells a reused pid from ours. */
  startTicks: z.string().optional(),
  /** Docker/podman container id. */
  containerId: z.string().optional(),
  startedAt: z.string(),
});
export type ContainerRecord = z.infer<typeof containerRecordSchema>;

export type ExitReason = "Completed" | "Error" | "OOMKilled" | "Unknown";

export interface ExitInfo {
  /** null when it cannot be known (a re-adopted process is not our child, so its status is lost). */
  exitCode: number | null;
  signal?: NodeJS.Signals;
  reason: ExitReason;
  finishedAt: Date;
}

export interface ExecResult {
  exitCode: number | null;
  /** Combined stdout+stderr, truncated to a few KiB. */
  output: string;
  timedOut: boolean;
}

export interface ContainerHandle {
  readonly record: ContainerRecord;
  /** Settles once, when the container has ended (whoever ended it). Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM to the whole group, SIGKILL to the group after `graceMs`; resolves with the exit. Idempotent. */
  stop(graceMs: number): Promise<ExitInfo>;
  /** CPU (since the previous call) and RSS summed over the group; undefined once gone. */
  usage(): Promise<ResourceUsage | undefined>;
  /** Runs argv in the container's context (same env, working dir, mounts): exec probes and hooks. */
  exec(argv: string[], timeoutMs: number): Promise<ExecResult>;
}

/** Start failures that are the pod's fault (command not found, image missing), not the agent's. */
export class ContainerStartError extends Error {
  constructor(
    readonly reason: "CreateContainerError" | "RunContainerError" | "ErrImageNeverPull" | "InvalidImageName",
    message: string,
  ) {
    super(message);
    this.name = "ContainerStartError";
  }
}

export interface ContainerRuntime {
  readonly name: RuntimeName;
  /** Starts the container; rejects with ContainerStartError when the spec cannot run. */
  start(spec: LaunchSpec): Promise<ContainerHandle>;
  /** Re-attaches to a container a previous agent process started; null when it is gone (or the pid was reused). */
  adopt(record: ContainerRecord, spec: LaunchSpec): Promise<ContainerHandle | null>;
  /** Every container carrying this agent id that is still alive: a restarted agent kills those it has no record of. */
  list(agentId: string): Promise<ContainerRecord[]>;
  /** Ends a container found by list() that nothing owns (SIGKILL / docker rm -f). */
  kill(record: ContainerRecord): Promise<void>;
}
