/**
 * GitSource: everything gitsync needs from a repository, behind one small
 * interface (house style 7). The implementation reads a local repository in
 * place, or mirrors an HTTP(S) remote into a cache directory with
 * isomorphic-git, and reads objects with ObjectStore (see pack.ts for why).
 */
import * as fs from "node:fs";
import * as git from "isomorphic-git";
import { CapstanError, GitSourceError, ManifestError } from "../errors.ts";
import { type GitAuth, redactText } from "./credentials.ts";
import { findGitdir, mirrorDir, normaliseSubPath, parseLocation, type SourceLocation } from "./location.ts";
import { fetchIntoMirror, MirrorError } from "./mirror.ts";
import { publishLocal, publishToRemote } from "./publish.ts";
import { type RestoreCommitInput, writeRestoreCommit } from "./restore-commit.ts";
import { MissingObjectError, ObjectStore } from "./object-store.ts";
import { type BlobChange, diffTrees, listTreeBlobs, resolveSubtree, type TreeBlob } from "./tree-diff.ts";

export type { BlobChange, TreeBlob } from "./tree-diff.ts";
export type { GitAuth } from "./credentials.ts";

export interface CommitInfo {
  sha: string;
  /** First parent; null for a root commit. */
  parentSha: string | null;
  authorName: string;
  authorEmail: string;
  message: string;
  /** The committer's time: when the commit entered history, not when it was first written. */
  committedAt: Date;
}

export interface GitSource {
  /** The source URL or absolute path, without credentials: safe to log and record. */
  readonly url: string;
  readonly branch: string;
  /** The manifests sub-directory, "" for the repository root. */
  readonly path: string;
  /** Brings the branch up to date and returns its tip. A force-push moves it anywhere. */
  fetch(): Promise<string>;
  /**
   * The first-parent chain from `toSha` back to, excluding, `fromSha`, oldest
   * first, the newest `limit` of them. When `fromSha` is not on that chain
   * (force-push, or a merge that put it on a side branch), just `toSha`.
   */
  commitsBetween(fromSha: string | null, toSha: string, limit: number): Promise<CommitInfo[]>;
  commitInfo(sha: string): Promise<CommitInfo>;
  /** Every file under the sub-path at `sha`, paths relative to it. Contents are not read. */
  listManifestBlobs(sha: string): Promise<TreeBlob[]>;
  /** Files under the sub-path that differ between two commits; `fromSha` null = all added. */
  changedBlobs(fromSha: string | null, toSha: string): Promise<BlobChange[]>;
  readBlob(oid: string): Promise<Uint8Array>;
  /** A file under the sub-path at `sha`, or null when there is no such file. */
  readFileAt(sha: string, path: string): Promise<Uint8Array | null>;
  /** Writes a commit restoring the sub-path (or some files under it) from an older commit; moves no branch. */
  writeRestoreCommit(input: Omit<RestoreCommitInput, "gitdir" | "subPath">): Promise<{ sha: string; changed: boolean }>;
  /** Moves the branch from `expected` to `sha` (a push for a remote), or throws BranchMovedError: never a force-push. */
  publish(sha: string, expected: string): Promise<void>;
}

export interface GitSourceOptions {
  /** A local path (work tree or bare repository, or file://) or an http(s):// URL. */
  url: string;
  branch: string;
  /** Sub-directory holding the manifests. */
  path?: string;
  /** Where HTTP(S) remotes are mirrored, one bare repository per URL (e.g. `<data-dir>/git`). */
  cacheDir: string;
  /** Merged over credentials embedded in the URL. */
  auth?: GitAuth;
  /** Bound on one HTTP(S) fetch; default 120 s. */
  timeoutMs?: number;
}

export function openGitSource(options: GitSourceOptions): GitSource {
  return new RepositorySource(options);
}

const shaPattern = /^[0-9a-f]{40}$/;

class RepositorySource implements GitSource {
  readonly url: string;
  readonly branch: string;
  readonly path: string;
  private readonly location: SourceLocation;
  private readonly auth: GitAuth | undefined;
  private readonly cacheDir: string;
  private readonly timeoutMs: number;
  private objectStore: ObjectStore | undefined;
  /** Fetches run one at a time: a webhook arriving mid-poll must not race it on the mirror's files. */
  private fetchQueue: Promise<unknown> = Promise.resolve();

  constructor(options: GitSourceOptions) {
    this.location = parseLocation(options.url);
    this.url = this.location.kind === "http" ? this.location.url : this.location.path;
    this.auth =
      this.location.kind === "http" && (this.location.auth || options.auth)
        ? { ...this.location.auth, ...options.auth }
        : undefined;
    this.branch = options.branch;
    this.path = normaliseSubPath(options.path);
    this.cacheDir = options.cacheDir;
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  fetch(): Promise<string> {
    const run = this.fetchQueue.then(() => this.guard(() => this.fetchNow()));
    this.fetchQueue = run.catch(() => undefined);
    return run;
  }

  commitsBetween(fromSha: string | null, toSha: string, limit: number): Promise<CommitInfo[]> {
    return this.guard(async () => {
      if (fromSha === toSha || limit <= 0) return [];
      const chain: CommitInfo[] = [];
      let sha: string | null = toSha;
      let reachedFrom = false;
      while (sha !== null) {
        if (sha === fromSha) {
          reachedFrom = true;
          break;
        }
        // Past `limit` the walk goes on only to learn whether `fromSha` is an ancestor.
        if (chain.length === limit && fromSha === null) break;
        const info = this.readCommitInfo(sha, sha !== toSha);
        if (!info) break;
        if (chain.length < limit) chain.push(info);
        sha = info.parentSha;
      }
      if (fromSha !== null && !reachedFrom) return [this.readCommitInfo(toSha, false)!];
      return chain.reverse();
    });
  }

  commitInfo(sha: string): Promise<CommitInfo> {
    return this.guard(async () => this.readCommitInfo(sha, false)!);
  }

  listManifestBlobs(sha: string): Promise<TreeBlob[]> {
    return this.guard(async () => listTreeBlobs(this.store(), this.manifestTree(sha)));
  }

  changedBlobs(fromSha: string | null, toSha: string): Promise<BlobChange[]> {
    return this.guard(async () => {
      const toTree = this.manifestTree(toSha);
      // The sub-path may not exist yet in the older commit: then everything is new.
      const fromTree = fromSha === null ? null : this.manifestTreeOrNull(fromSha);
      return diffTrees(this.store(), fromTree, toTree);
    });
  }

  readBlob(oid: string): Promise<Uint8Array> {
    return this.guard(async () => this.store().readAs(oid, "blob"));
  }

  readFileAt(sha: string, path: string): Promise<Uint8Array | null> {
    return this.guard(async () => {
      const segments = normaliseSubPath(path).split("/");
      const name = segments.pop()!;
      const dirTree = this.manifestTreeOrNull(sha);
      const parent = dirTree && resolveSubtree(this.store(), dirTree, segments.join("/"));
      if (!parent || parent === "missing" || parent === "not-a-tree") return null;
      const entry = this.store().readTree(parent).find((candidate) => candidate.name === name);
      if (!entry || (entry.kind !== "file" && entry.kind !== "symlink")) return null;
      return this.store().readAs(entry.oid, "blob");
    });
  }

  writeRestoreCommit(input: Omit<RestoreCommitInput, "gitdir" | "subPath">): Promise<{ sha: string; changed: boolean }> {
    return this.guard(() => writeRestoreCommit({ ...input, gitdir: this.gitdir(), subPath: this.path }));
  }

  publish(sha: string, expected: string): Promise<void> {
    // In the fetch queue: a push must not race a fetch on the mirror's refs.
    const run = this.fetchQueue.then(() =>
      this.guard(() =>
        this.location.kind === "http"
          ? publishToRemote({ url: this.location.url, branch: this.branch, gitdir: this.gitdir(), auth: this.auth }, sha, expected)
          : publishLocal(this.gitdir(), this.branch, sha, expected),
      ),
    );
    this.fetchQueue = run.catch(() => undefined);
    return run;
  }

  private async fetchNow(): Promise<string> {
    if (this.location.kind === "http") {
      return fetchIntoMirror(
        {
          url: this.location.url,
          branch: this.branch,
          gitdir: this.gitdir(),
          auth: this.auth,
          timeoutMs: this.timeoutMs,
        },
        () => this.store(),
      );
    }
    const gitdir = this.gitdir();
    try {
      return await git.resolveRef({ fs, gitdir, ref: `refs/heads/${this.branch}` });
    } catch (error) {
      if ((error as { code?: string }).code === "NotFoundError") {
        throw new MirrorError(`branch ${this.branch} not found`);
      }
      throw error;
    }
  }

  private gitdir(): string {
    if (this.location.kind === "http") return mirrorDir(this.cacheDir, this.location.url);
    const gitdir = findGitdir(this.location.path);
    if (!gitdir) throw new MirrorError("not a Git repository");
    return gitdir;
  }

  private store(): ObjectStore {
    if (!this.objectStore) {
      const gitdir = this.gitdir();
      if (!fs.existsSync(`${gitdir}/objects`)) throw new MirrorError("nothing fetched yet");
      this.objectStore = new ObjectStore(gitdir);
    }
    return this.objectStore;
  }

  /** `optional`: a missing commit (history cut by a shallow clone) ends the walk instead of failing it. */
  private readCommitInfo(sha: string, optional: boolean): CommitInfo | undefined {
    if (!shaPattern.test(sha)) throw new MirrorError(`${JSON.stringify(sha)} is not a commit sha`);
    let commit;
    try {
      commit = this.store().readCommit(sha);
    } catch (error) {
      if (optional && error instanceof MissingObjectError) return undefined;
      throw error;
    }
    return {
      sha,
      parentSha: commit.parents[0] ?? null,
      authorName: commit.author.name,
      authorEmail: commit.author.email,
      message: commit.message.replace(/\n+$/, ""),
      committedAt: new Date(commit.committer.timestamp * 1000),
    };
  }

  private manifestTreeOrNull(sha: string): string | null {
    const tree = resolveSubtree(this.store(), this.store().readCommit(sha).tree, this.path);
    return tree === "missing" || tree === "not-a-tree" ? null : tree;
  }

  /**
   * A commit without the configured sub-path cannot be applied: it is rejected
   * like an invalid manifest (the previous revision stays live) rather than
   * read as "no manifests", which would delete every object.
   */
  private manifestTree(sha: string): string {
    const tree = resolveSubtree(this.store(), this.store().readCommit(sha).tree, this.path);
    if (tree !== "missing" && tree !== "not-a-tree") return tree;
    throw new ManifestError([
      {
        file: this.path,
        line: 1,
        column: 1,
        path: "",
        message:
          tree === "missing"
            ? `the configured path does not exist in commit ${sha.slice(0, 12)}`
            : `the configured path is a file, not a directory, in commit ${sha.slice(0, 12)}`,
        severity: "error",
      },
    ]);
  }

  /**
   * Every failure leaves as a GitSourceError naming the URL without
   * credentials, with credentials scrubbed from the message and the cause.
   */
  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof CapstanError) throw error;
      const message = redactText(describeFailure(error), this.auth);
      const cause = new Error(message);
      cause.name = (error as { name?: string }).name ?? "Error";
      throw new GitSourceError(this.url, message, { cause });
    }
  }
}

function describeFailure(error: unknown): string {
  const failure = error as { code?: string; message?: string; data?: { statusCode?: number; statusMessage?: string; message?: string } };
  if (failure.code === "UserCanceledError") return "authentication failed (HTTP 401): check the credentials";
  // isomorphic-git's InternalError is what a pack that does not inflate or parse ends in; its own message asks
  // the reader to report a bug to isomorphic-git, which is not what the page should tell an operator.
  if (failure.code === "InternalError") return `the remote's answer could not be read (a corrupt or truncated pack): ${failure.data?.message ?? "no detail"}`;
  if (failure.code === "HttpError" && failure.data?.statusCode) {
    const { statusCode, statusMessage } = failure.data;
    return statusCode === 401
      ? "authentication required (HTTP 401): no credentials were configured"
      : `HTTP ${statusCode} ${statusMessage ?? ""}`.trim();
  }
  return failure.message ?? String(error);
}
