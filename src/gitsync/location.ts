/**
 * Where a Git source lives: a local repository read in place, or an HTTP(S)
 * remote mirrored into a cache directory. Decided once from the configured URL.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.ts";
import { type GitAuth, splitUrlCredentials } from "./credentials.ts";

export type SourceLocation =
  | { kind: "local"; path: string }
  | { kind: "http"; url: string; auth: GitAuth | undefined };

/** Parses the configured URL. Credentials in it are split off; the URL kept has none. */
export function parseLocation(url: string): SourceLocation {
  if (/^https?:\/\//i.test(url)) {
    const split = splitUrlCredentials(url);
    return { kind: "http", url: split.url.replace(/\/+$/, ""), auth: split.auth };
  }
  if (/^file:\/\//i.test(url)) return { kind: "local", path: fileURLToPath(url) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/\\]+@[^:]+:/.test(url)) {
    throw new ConfigError(`unsupported Git URL ${splitUrlCredentials(url).url}: use a local path or http(s)://`);
  }
  return { kind: "local", path: resolve(url) };
}

/**
 * The bare mirror of a remote under `cacheDir`, one per URL (without
 * credentials, so a rotated token keeps its mirror).
 */
export function mirrorDir(cacheDir: string, url: string): string {
  return join(cacheDir, createHash("sha256").update(url).digest("hex").slice(0, 16));
}

/**
 * The Git directory of a local repository: `<path>/.git` of a work tree,
 * the target of a `.git` file (linked worktrees, submodules), or `<path>`
 * itself when it is bare. Undefined when `path` is not a repository.
 */
export function findGitdir(path: string): string | undefined {
  const dotGit = join(path, ".git");
  if (existsSync(dotGit)) {
    if (statSync(dotGit).isDirectory()) return dotGit;
    const pointer = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, "utf8"));
    if (!pointer) return undefined;
    return commonDir(resolve(path, pointer[1]!.trim()));
  }
  if (existsSync(join(path, "HEAD")) && existsSync(join(path, "objects"))) return commonDir(path);
  return undefined;
}

/** A linked worktree's gitdir holds only its HEAD; branches and objects live in the common dir. */
function commonDir(gitdir: string): string {
  const pointer = join(gitdir, "commondir");
  if (!existsSync(pointer)) return gitdir;
  return resolve(gitdir, readFileSync(pointer, "utf8").trim());
}

/** The sub-path option as a clean POSIX path without leading/trailing slashes ("" = root). */
export function normaliseSubPath(path: string | undefined): string {
  const segments = (path ?? "").split(/[\\/]+/).filter((segment) => segment !== "" && segment !== ".");
  if (segments.includes("..")) throw new ConfigError(`path ${path} must stay inside the repository`);
  return segments.join("/");
}
