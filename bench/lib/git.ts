/** A generated manifests repository for the sync benchmarks: plain `git`, packed once, timed commits left loose. */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

export function git(dir: string, ...args: string[]): void {
  execFileSync("git", ["-C", dir, ...args], { stdio: ["ignore", "ignore", "inherit"] });
}

/** A new repository on branch main holding `files` (path → content) in one commit, packed by `git gc`. */
export async function generateRepository(dir: string, files: Iterable<[string, string]>): Promise<void> {
  await mkdir(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  git(dir, "config", "user.name", "bench");
  git(dir, "config", "user.email", "bench@localhost");
  // No automatic gc in the background: the explicit one below packs the tree, and the timed commits stay loose.
  git(dir, "config", "gc.auto", "0");
  for (const [path, content] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "generated manifests");
  git(dir, "gc", "-q");
}

/** Rewrites one file and commits it. */
export async function commitFile(dir: string, path: string, content: string, message: string): Promise<void> {
  await writeFile(join(dir, path), content);
  git(dir, "commit", "-qam", message);
}
