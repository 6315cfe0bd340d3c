import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { promisify } from "node:util";
import { PodConfigError } from "./errors.ts";
import { findOnHostPath } from "./runtime/executable.ts";

/**
 * A Memory emptyDir of its own: a tmpfs mounted at the volume's directory,
 * `size=` its sizeLimit, as the kubelet mounts one. Mounting needs root; an
 * agent that is not root keeps the volume under its secret root instead
 * (tmpfs too where the node has /dev/shm), without a size of its own.
 * Mounted in the agent's namespace, so the pod's processes (and a private
 * mount namespace made after it) see it; removed with the pod.
 */

const run = promisify(execFile);

/** Whether the agent can mount a tmpfs of its own for a volume. */
export function canMountTmpfs(): boolean {
  return process.getuid?.() === 0;
}

/** The mount options (pure): writable by any user like every emptyDir, bounded when a size is given. */
export function tmpfsOptions(sizeBytes: number | undefined): string {
  return ["mode=0777", ...(sizeBytes !== undefined ? [`size=${sizeBytes}`] : [])].join(",");
}

/** Mounts a tmpfs at `path` (an existing directory) unless one already is there (the agent prepared it before a restart). */
export async function ensureTmpfs(path: string, sizeBytes: number | undefined): Promise<void> {
  if ((await mountPointsUnder(path)).includes(posix.resolve(path))) return;
  const mount = await findOnHostPath("mount");
  if (!mount) throw new PodConfigError("CreateContainerError", "a Memory emptyDir needs mount (util-linux) on the node");
  try {
    await run(mount, ["-t", "tmpfs", "-o", tmpfsOptions(sizeBytes), "tmpfs", path], { timeout: 30_000 });
  } catch (error) {
    throw new PodConfigError("CreateContainerError", `could not mount a tmpfs for a Memory emptyDir: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
  }
}

/** Unmounts every mount at or below `dir`, deepest first, so that the directory can be removed. */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await mountPointsUnder(dir)).sort((a, b) => b.length - a.length);
  if (mounts.length === 0) return;
  const umount = await findOnHostPath("umount");
  if (!umount) throw new Error(`cannot unmount ${mounts[0]}: no umount on the node`);
  for (const mountPoint of mounts) {
    // Lazy when busy: a process that outlived its pod still holds it, and the directory must go anyway.
    await run(umount, [mountPoint], { timeout: 30_000 }).catch(() => run(umount, ["-l", mountPoint], { timeout: 30_000 }));
  }
}

/** The mount points at or below `dir` in the agent's mount namespace. */
export async function mountPointsUnder(dir: string): Promise<string[]> {
  const root = posix.resolve(dir);
  const text = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  return parseMountPoints(text).filter((mountPoint) => mountPoint === root || mountPoint.startsWith(`${root}/`));
}

/** Field 5 of each /proc/self/mountinfo line, with its octal escapes (\040 for a space) decoded (pure). */
export function parseMountPoints(mountinfo: string): string[] {
  return mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((field): field is string => field !== undefined && field !== "")
    .map((field) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))));
}
