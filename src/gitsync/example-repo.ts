import { cp, mkdir, readdir } from "node:fs/promises";
import fs from "node:fs";
import { join, relative, sep } from "node:path";
import git from "isomorphic-git";

/**
 * With no `--repo`, capstan watches a copy of the bundled examples-repo made
 * into a Git repository under the data dir, so a new user can edit and commit
 * there and watch the change roll out. An existing copy is used as it is.
 */
export async function ensureExampleRepository(target: string, template: string): Promise<string> {
  // A copy whose first commit never happened (killed mid-way) is made again.
  const committed = await git.resolveRef({ fs, dir: target, ref: "main" }).then(
    () => true,
    () => false,
  );
  if (committed) return target;
  await mkdir(target, { recursive: true });
  await cp(template, target, { recursive: true });
  await git.init({ fs, dir: target, defaultBranch: "main" });
  for (const file of await listFiles(target)) await git.add({ fs, dir: target, filepath: file });
  await git.commit({
    fs,
    dir: target,
    message: "Start from capstan's example app",
    author: { name: "capstan", email: "capstan@localhost" },
  });
  return target;
}

async function listFiles(root: string, dir = root): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === ".git") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(root, path)));
    else files.push(relative(root, path).split(sep).join("/"));
  }
  return files;
}
