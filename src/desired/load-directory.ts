import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { ManifestError, NotFoundError, type ManifestProblem } from "../errors.ts";
import { ignoreFileName, ignoreNothing, isManifestPath, parseIgnoreFile, type IgnoreMatcher } from "./manifest-paths.ts";
import type { SourceFile } from "./types.ts";

/**
 * The manifest files of a directory, as gitsync would take them from a commit
 * of it (`capstan validate <dir>`): repo-relative POSIX paths, in path order,
 * dot-entries skipped and `.capstanignore` honoured. A symlink that leads out
 * of the directory is refused, with every such link named: validating must
 * not read files the repository does not hold, and Git would not follow it.
 */
export async function loadDirectory(dir: string): Promise<SourceFile[]> {
  const root = await realDirectory(dir);
  const ignoreMatcher = await readIgnoreFile(root);
  const files: SourceFile[] = [];
  const refusals: ManifestProblem[] = [];
  const pending = [""];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const directory = next;
    const entries = await readdir(join(root, directory), { withFileTypes: true });
    await Promise.all(
      entries.map(async (entry) => {
        if (entry.name.startsWith(".")) return;
        const path = directory ? `${directory}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (!ignoreMatcher.ignores(`${path}/`)) pending.push(path);
        } else if (entry.isSymbolicLink()) {
          const followed = await followSymlink(root, path, ignoreMatcher);
          if ("refusal" in followed) refusals.push(followed.refusal);
          else if (followed.file) files.push(followed.file);
        } else if (entry.isFile() && isManifestPath(path, ignoreMatcher)) {
          files.push({ path, content: await readFile(join(root, path)) });
        }
      }),
    );
  }
  if (refusals.length > 0) throw new ManifestError(refusals.sort((a, b) => (a.file < b.file ? -1 : 1)));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function realDirectory(dir: string): Promise<string> {
  try {
    const root = await realpath(resolve(dir));
    if ((await stat(root)).isDirectory()) return root;
  } catch {
    // Reported below, the same way for a missing path and for a file.
  }
  throw new NotFoundError(`${dir}: no such directory`);
}

async function readIgnoreFile(root: string): Promise<IgnoreMatcher> {
  try {
    return parseIgnoreFile(await readFile(join(root, ignoreFileName), "utf8"));
  } catch (error) {
    if (isMissing(error)) return ignoreNothing;
    throw error;
  }
}

/**
 * A link to a file inside the directory is read under the link's own path.
 * A link to a directory inside is not descended into: the tree already holds
 * that directory, and following it would load its manifests twice (or loop).
 */
async function followSymlink(
  root: string,
  path: string,
  ignoreMatcher: IgnoreMatcher,
): Promise<{ file?: SourceFile } | { refusal: ManifestProblem }> {
  let target: string;
  try {
    target = await realpath(join(root, path));
  } catch (error) {
    if (!isMissing(error) || !isManifestPath(path, ignoreMatcher)) return {};
    return { refusal: refusal(path, "symlink points to a file that does not exist") };
  }
  const targetIsDirectory = (await stat(target)).isDirectory();
  const wanted = targetIsDirectory ? !ignoreMatcher.ignores(`${path}/`) : isManifestPath(path, ignoreMatcher);
  if (!wanted) return {};
  const inside = target === root || target.startsWith(root + sep);
  if (!inside) {
    return { refusal: refusal(path, `symlink points outside the directory (to ${target}): refused`) };
  }
  if (targetIsDirectory) return {};
  return { file: { path, content: await readFile(target) } };
}

function refusal(file: string, message: string): ManifestProblem {
  return { file, line: 1, column: 1, path: "", message, severity: "error" };
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && "code" in error && (error.code === "ENOENT" || error.code === "ENOTDIR");
}
