/**
 * Named error classes with data. They are mapped to CLI exit codes and HTTP
 * statuses in one place (`toHttpStatus`, `toExitCode`), never ad hoc.
 */

export abstract class CapstanError extends Error {
  /** A stable machine-readable code, e.g. "ManifestInvalid". */
  abstract readonly code: string;
  /** Transient errors are retried with back-off; terminal ones are recorded and not retried. */
  readonly transient: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One located problem in a manifest: where it is and what is wrong. */
export interface ManifestProblem {
  file: string;
  line: number;
  column: number;
  /** Field path such as `spec.template.spec.containers[0].ports[1].containerPort`; "" for the document itself. */
  path: string;
  message: string;
  severity: "error" | "warning";
}

export function formatProblem(problem: ManifestProblem): string {
  const where = `${problem.file}:${problem.line}:${problem.column}`;
  const field = problem.path ? ` ${problem.path}:` : "";
  const tag = problem.severity === "warning" ? " (warning)" : "";
  return `${where}${field} ${problem.message}${tag}`;
}

/** A set of manifests that cannot be applied; carries every problem found. */
export class ManifestError extends CapstanError {
  readonly code = "ManifestInvalid";
  constructor(readonly problems: ManifestProblem[]) {
    super(
      problems.length === 1
        ? formatProblem(problems[0]!)
        : `${problems.length} problems in manifests:\n${problems.map(formatProblem).join("\n")}`,
    );
  }
}

/** The Git source could not be reached or read. Retried with back-off. */
export class GitSourceError extends CapstanError {
  readonly code = "GitSourceUnavailable";
  override readonly transient = true;
  constructor(
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`git source ${source}: ${message}`, options);
  }
}

/** Configuration from flags or environment is invalid. */
export class ConfigError extends CapstanError {
  readonly code = "ConfigInvalid";
}

/** A request from outside (API, webhook) is malformed. */
export class BadRequestError extends CapstanError {
  readonly code = "BadRequest";
}

/** A request without credentials, or with wrong ones (401). */
export class UnauthorizedError extends CapstanError {
  readonly code = "Unauthorized";
}

/** A request this control plane refuses whoever sends it, e.g. an action while actions are disabled (403). */
export class ForbiddenError extends CapstanError {
  readonly code = "Forbidden";
}

export class NotFoundError extends CapstanError {
  readonly code = "NotFound";
}

/** How an object is named in messages: `ReplicaSet shop/web-5d8f`, `Namespace shop` when cluster-scoped. */
export function describeObjectKey(key: { kind: string; namespace: string; name: string }): string {
  return `${key.kind} ${key.namespace ? `${key.namespace}/` : ""}${key.name}`;
}

/** A store write named an object that has no live row (never created, or deleted). Not retried. */
export class ObjectNotFoundError extends NotFoundError {
  /** The object's key (in `data`: `name` is taken by Error). */
  readonly data: { kind: string; namespace: string; name: string };
  constructor(kind: string, namespace: string, name: string) {
    super(`${describeObjectKey({ kind, namespace, name })} not found`);
    this.data = { kind, namespace, name };
  }
}

/**
 * A store write lost a race: the object already exists (create) or changed
 * since it was read (update with a stale resource version). Transient: the
 * caller re-reads and retries, as a Kubernetes controller does on 409.
 */
export class ConflictError extends CapstanError {
  readonly code = "Conflict";
  override readonly transient = true;
  /** The object's key (in `data`: `name` is taken by Error). */
  readonly data: { kind: string; namespace: string; name: string };
  constructor(
    kind: string,
    namespace: string,
    name: string,
    /** `exists`: a create met a live object of that name; `modified`: an update's resource version was stale. */
    readonly reason: "exists" | "modified",
  ) {
    const object = describeObjectKey({ kind, namespace, name });
    super(reason === "exists" ? `${object} already exists` : `${object} was modified; re-read and retry`);
    this.data = { kind, namespace, name };
  }
}

/** The store (PostgreSQL) is unreachable or failed; retried with back-off. */
export class StoreUnavailableError extends CapstanError {
  readonly code = "StoreUnavailable";
  override readonly transient = true;
}

/**
 * A write of a leader's term was refused: another replica has acquired the
 * lease since (its fencing token moved on), so this one no longer leads and
 * the write changed nothing. Transient: the term's components are being
 * stopped, and retrying is harmless until they are.
 */
export class LostLeadershipError extends CapstanError {
  readonly code = "LostLeadership";
  override readonly transient = true;
  constructor(
    readonly lease: string,
    /** The token of the term that tried to write. */
    readonly heldToken: number,
    /** The lease's token now; null when the lease row is gone. */
    readonly currentToken: number | null,
    readonly currentHolder: string | null,
  ) {
    super(
      `lease ${lease}: this replica's term ${heldToken} is over (now term ${currentToken ?? "none"}, held by ${currentHolder ?? "nobody"}); write refused`,
    );
  }
}

/** A request needs the leader's components (node links, say) and this replica only follows. */
export class NotLeaderError extends CapstanError {
  readonly code = "NotLeader";
  override readonly transient = true;
  constructor(readonly leaderUrl: string | null) {
    super(`this replica is not the leader${leaderUrl ? `; ask ${leaderUrl}` : " and no leader is known right now"}`);
  }
}

/** A node's SSH (or local) endpoint cannot be reached or refused us. Retried with back-off. */
export class NodeUnreachableError extends CapstanError {
  readonly code = "NodeUnreachable";
  override readonly transient = true;
  constructor(
    readonly node: string,
    readonly address: string,
    readonly port: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`node ${node} (${address}:${port}) is unreachable: ${message}`, options);
  }
}

/**
 * The host answering for a node presents a different key than the one pinned
 * for it: possibly another machine, possibly an attack. Not retried; an
 * operator re-pins after checking.
 */
export class HostKeyMismatchError extends CapstanError {
  readonly code = "HostKeyMismatch";
  constructor(
    readonly node: string,
    readonly expectedFingerprint: string,
    readonly actualFingerprint: string,
  ) {
    super(`node ${node}: host key mismatch: pinned ${expectedFingerprint}, host presented ${actualFingerprint}`);
  }
}

/** The node is reachable but its capstan-agent could not be started or reached. Retried with back-off. */
export class AgentUnavailableError extends CapstanError {
  readonly code = "AgentUnavailable";
  override readonly transient = true;
  constructor(
    readonly node: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`node ${node}: agent unavailable: ${message}`, options);
  }
}

/** A request needs a live link to the node (logs, say) and there is none right now. Retried with back-off. */
export class NodeNotConnectedError extends CapstanError {
  readonly code = "NodeNotConnected";
  override readonly transient = true;
  constructor(
    readonly node: string,
    reason?: string,
  ) {
    super(`node ${node} is not connected${reason ? `: ${reason}` : ""}`);
  }
}

/** A transport was used after close(). A programming error, never retried. */
export class TransportClosedError extends CapstanError {
  readonly code = "TransportClosed";
  constructor(readonly node: string) {
    super(`node ${node}: transport is closed`);
  }
}

/**
 * The watched branch is no longer where capstan built a rollback on: someone
 * pushed since. Nothing was pushed; capstan never force-pushes.
 */
export class BranchMovedError extends CapstanError {
  readonly code = "BranchMoved";
  constructor(
    readonly branch: string,
    readonly expectedSha: string,
    readonly actualSha: string | null,
    detail?: string,
  ) {
    super(
      `branch ${branch} moved: capstan built on ${expectedSha.slice(0, 10)}` +
        (actualSha ? ` but the branch is now at ${actualSha.slice(0, 10)}` : "") +
        `${detail ? ` (${detail})` : ""}; nothing was pushed. Let capstan sync the new commit, then run the rollback again`,
    );
  }
}

/** A rollback that cannot be made as asked: no healthy revision to go back to, an unknown commit or workload. */
export class RollbackRefusedError extends CapstanError {
  readonly code = "RollbackRefused";
}

export function toHttpStatus(error: unknown): number {
  if (error instanceof BadRequestError || error instanceof ManifestError) return 400;
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError || error instanceof BranchMovedError || error instanceof RollbackRefusedError) return 409;
  if (error instanceof StoreUnavailableError ||
    error instanceof GitSourceError ||
    error instanceof NodeNotConnectedError ||
    error instanceof LostLeadershipError ||
    error instanceof NotLeaderError) return 503;
  return 500;
}

/** The message of anything thrown, for logs and stored errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function toExitCode(error: unknown): 1 | 2 {
  return error instanceof ConfigError ? 2 : 1;
}
