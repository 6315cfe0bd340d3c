/**
 * Real Git repositories for tests, made with the `git` CLI so that what capstan
 * reads is exactly what a user's `git commit` / `git push --force` produces.
 *
 * Every command runs asynchronously: a test may serve the same repository over
 * HTTP from this very process (test/helpers/git-http-server.ts), and a blocking
 * `execFileSync` would starve that server.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface Identity {
  name: string;
  email: string;
}

export interface CommitOptions {
  author?: Identity;
  /** Author and committer date; fixed dates make commit shas reproducible. */
  date?: Date;
  /** Commit even when nothing changed. */
  allowEmpty?: boolean;
}

export interface TestRepo {
  /** The work tree; its `.git` is the repository. */
  readonly dir: string;
  /** Runs `git <args>` in the work tree and returns trimmed stdout. */
  git(...args: string[]): Promise<string>;
  /** Writes a file (creating parent directories) and stages it. */
  write(path: string, content: string | Uint8Array): Promise<void>;
  /** Writes many files and stages them with one `git add`. */
  writeAll(files: Record<string, string | Uint8Array>): Promise<void>;
  /** Deletes a file and stages the deletion. */
  remove(path: string): Promise<void>;
  /** Creates a symbolic link (mode 120000 in the tree) and stages it. */
  symlink(path: string, target: string): Promise<void>;
  /** Commits what is staged and returns the new commit's sha. */
  commit(message: string, options?: CommitOptions): Promise<string>;
  /** The sha of a revision (default HEAD). */
  revParse(rev?: string): Promise<string>;
  /** Creates a branch at `from` (default HEAD) without switching to it. */
  branch(name: string, from?: string): Promise<void>;
  /** Switches the work tree to an existing branch. */
  checkout(name: string): Promise<void>;
  /**
   * Moves the current branch tip to `sha` and resets the work tree: for a
   * repository read in place or served over HTTP this is what a force-push
   * of an older commit looks like from the outside.
   */
  resetTo(sha: string): Promise<void>;
  /** `git push [--force] <remote> <branch>`; the remote may be a path or an http URL. */
  push(remote: string, options?: { branch?: string; force?: boolean }): Promise<void>;
  /** A bare clone of this repository at `dest` (default: a new temp dir), for remotes. */
  cloneBare(dest?: string): Promise<string>;
  /** Packs every object (`git gc`), so reads go through a packfile instead of loose objects. */
  pack(): Promise<void>;
  /** Removes the work tree and everything made by `cloneBare` without a `dest`. */
  cleanup(): Promise<void>;
}

export const defaultIdentity: Identity = { name: "Capstan Test", email: "test@capstan.invalid" };

/** The environment every fixture command runs with: nothing from the user's global Git config leaks in. */
function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    LC_ALL: "C",
    ...extra,
  };
}

export async function runGit(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync("git", args, {
      cwd,
      env: gitEnv(env),
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${stderr.trim()}`, { cause: error });
  }
}

/**
 * Creates an empty repository on branch `main` with a per-repository identity.
 * `dir` is used as is (created if missing); by default a fresh temp dir.
 */
export async function createRepo(dir?: string): Promise<TestRepo> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), "capstan-repo-")));
  await mkdir(root, { recursive: true });
  const extraDirs: string[] = [];
  const git = (...args: string[]) => runGit(root, args);

  await git("init", "--quiet", "--initial-branch=main");
  await git("config", "user.name", defaultIdentity.name);
  await git("config", "user.email", defaultIdentity.email);
  await git("config", "commit.gpgsign", "false");
  // Keep gc from repacking behind a test's back; `pack()` does it on purpose.
  await git("config", "gc.auto", "0");
  // A served work tree accepts pushes to its checked-out branch (later issues push rollback commits).
  await git("config", "receive.denyCurrentBranch", "updateInstead");

  async function writeOne(path: string, content: string | Uint8Array): Promise<void> {
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }

  const repo: TestRepo = {
    dir: root,
    git,
    async write(path, content) {
      await writeOne(path, content);
      await git("add", "--", path);
    },
    async writeAll(files) {
      const paths = Object.keys(files);
      for (const path of paths) await writeOne(path, files[path]!);
      // `git add -A` of the whole tree: one process instead of one per file.
      if (paths.length > 0) await git("add", "-A");
    },
    async remove(path) {
      await git("rm", "--quiet", "-r", "--", path);
    },
    async symlink(path, target) {
      const full = join(root, path);
      await mkdir(dirname(full), { recursive: true });
      await rm(full, { force: true });
      await symlink(target, full);
      await git("add", "--", path);
    },
    async commit(message, options = {}) {
      const author = options.author ?? defaultIdentity;
      const env: Record<string, string> = {
        GIT_AUTHOR_NAME: author.name,
        GIT_AUTHOR_EMAIL: author.email,
      };
      if (options.date) {
        const stamp = `${Math.floor(options.date.getTime() / 1000)} +0000`;
        env.GIT_AUTHOR_DATE = stamp;
        env.GIT_COMMITTER_DATE = stamp;
      }
      const args = ["commit", "--quiet", "--no-verify", "-m", message];
      if (options.allowEmpty) args.push("--allow-empty");
      await runGit(root, args, env);
      return git("rev-parse", "HEAD");
    },
    revParse(rev = "HEAD") {
      return git("rev-parse", "--verify", `${rev}^{commit}`);
    },
    async branch(name, from = "HEAD") {
      await git("branch", "--force", name, from);
    },
    async checkout(name) {
      await git("checkout", "--quiet", name);
    },
    async resetTo(sha) {
      await git("reset", "--quiet", "--hard", sha);
    },
    async push(remote, options = {}) {
      const branch = options.branch ?? "main";
      const args = ["push", "--quiet"];
      if (options.force) args.push("--force");
      args.push(remote, `${branch}:${branch}`);
      await git(...args);
    },
    async cloneBare(dest) {
      const target = dest ?? (await mkdtemp(join(tmpdir(), "capstan-bare-")));
      if (!dest) extraDirs.push(target);
      await runGit(root, ["clone", "--quiet", "--bare", root, target]);
      return target;
    },
    async pack() {
      await git("gc", "--quiet", "--prune=now");
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
      for (const extra of extraDirs) await rm(extra, { recursive: true, force: true });
    },
  };
  return repo;
}

/**
 * Commits many generated files at once through `git fast-import`: thousands of
 * files in well under a second, where `write` + `git add` would take many.
 * Paths are repo-relative; the commit goes on top of the current branch tip.
 * With `checkout: false` the work tree and index are left behind (commit
 * further changes with `importFiles` too).
 */
export async function importFiles(
  repo: TestRepo,
  files: Iterable<[path: string, content: string]>,
  message: string,
  options: { checkout?: boolean } = {},
): Promise<string> {
  const branch = await repo.git("symbolic-ref", "--short", "HEAD");
  const parent = await repo.git("rev-parse", "--verify", "--quiet", "HEAD").catch(() => "");
  const stamp = `${Math.floor(Date.now() / 1000)} +0000`;
  const who = `${defaultIdentity.name} <${defaultIdentity.email}>`;
  const lines: string[] = [
    `commit refs/heads/${branch}`,
    `author ${who} ${stamp}`,
    `committer ${who} ${stamp}`,
    `data ${Buffer.byteLength(message)}`,
    message,
  ];
  if (parent) lines.push(`from ${parent}`);
  const chunks = [lines.join("\n") + "\n"];
  for (const [path, content] of files) {
    chunks.push(`M 100644 inline ${path}\ndata ${Buffer.byteLength(content)}\n${content}\n`);
  }
  chunks.push("done\n");

  await new Promise<void>((resolve, reject) => {
    const child = spawn("git", ["fast-import", "--quiet", "--done"], {
      cwd: repo.dir,
      env: gitEnv(),
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}: ${stderr.trim()}`)),
    );
    child.stdin.end(chunks.join(""));
  });
  // fast-import moves the ref but not the work tree or index. Checking out thousands
  // of files costs seconds, so a test that only reads history can skip it.
  if (options.checkout ?? true) await repo.git("reset", "--quiet", "--hard", branch);
  return repo.revParse();
}

/** A fresh temp directory (e.g. a clone cache) and a way to remove it. */
export async function tempDir(prefix = "capstan-tmp-"): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
