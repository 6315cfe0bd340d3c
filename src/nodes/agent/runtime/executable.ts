import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { posix } from "node:path";
import { ContainerStartError } from "./types.ts";

/**
 * Finding a command as execve would: a container's argv[0] in its PATH, and
 * the node's own tools (unshare, mount, nsenter) in the agent's.
 */

const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

/** A tool the runtime itself runs, in the agent's PATH. */
export async function findOnHostPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? FALLBACK_PATH).split(":")) {
    if (dir === "") continue;
    const candidate = posix.join(dir, name);
    if ((await executableProblem(candidate)) === undefined) return candidate;
  }
  return undefined;
}
