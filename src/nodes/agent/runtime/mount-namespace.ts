import { readlink, stat } from "node:fs/promises";
import { posix } from "node:path";
import { findOnHostPath } from "./executable.ts";
import { ContainerStartError, type Mount } from "./types.ts";

/**
 * A process container whose mounts are not at their host paths runs in a
 * private mount namespace (root only): `unshare --mount` bind-mounts the
 * volumes, then execs the command; exec probes and hooks enter it with
 * nsenter.
 */

/**
 * Whether the mounts need a private mount namespace. A mount at its own host
 * path needs nothing, except read-only, which is enforced when we can (root).
 */
export async function needsMountNamespace(mounts: readonly Mount[]): Promise<boolean> {
  const moved = mounts.filter((mount) => posix.resolve(mount.containerPath) !== posix.resolve(mount.hostPath));
  const canMount = process.getuid?.() === 0;
  if (moved.length === 0) return canMount && mounts.some((mount) => mount.readOnly);
  if (!canMount) {
    const first = moved[0]!;
    throw new ContainerStartError(
      "CreateContainerError",
      `a bind mount of ${first.hostPath} at ${first.containerPath} needs root (the agent runs as uid ${process.getuid?.()}); ` +
        "run the agent as root or mount the volume at its host path",
    );
  }
  return true;
}

/** Maps a path as the container sees it to where it is on the host (the longest mount prefix wins). */
export function hostPathOf(mounts: readonly Mount[]): (path: string) => string {
  const sorted = [...mounts].sort((a, b) => b.containerPath.length - a.containerPath.length);
  return (path) => {
    for (const mount of sorted) {
      const target = posix.resolve(mount.containerPath);
      if (path === target) return mount.hostPath;
      if (path.startsWith(target === "/" ? "/" : `${target}/`)) return posix.join(mount.hostPath, path.slice(target.length));
    }
    return path;
  };
}

/**
 * `unshare --mount` running a small script that bind-mounts each volume and
 * then execs the command, so the pid stays the container's own. Paths travel
 * as positional parameters, never inside the script text.
 */
const MOUNT_SCRIPT = `set -e
mount_bin=$1; mkdir_bin=$2; n=$3; shift 3
while [ "$n" -gt 0 ]; do
  if [ "$1" = dir ]; then "$mkdir_bin" -p -- "$3"; else "$mkdir_bin" -p -- "\${3%/*}/"; [ -e "$3" ] || : >"$3"; fi
  "$mount_bin" --bind -- "$2" "$3"
  if [ "$4" = ro ]; then "$mount_bin" -o remount,bind,ro -- "$3"; fi
  shift 4; n=$((n - 1))
done
cd -- "$1"; shift
exec "$@"`;

export async function mountNamespaceCommand(mounts: readonly Mount[], workingDir: string, argv: string[]): Promise<{ file: string; args: string[] }> {
  const [unshare, mountBin, mkdirBin] = await Promise.all(["unshare", "mount", "mkdir"].map((name) => findOnHostPath(name)));
  if (!unshare || !mountBin || !mkdirBin) {
    throw new ContainerStartError("CreateContainerError", "bind mounts of a process container need unshare, mount and mkdir (util-linux, coreutils) on the node");
  }
  // Parents before children, so a nested mount lands inside its parent's.
  const ordered = [...mounts].sort((a, b) => depth(a.containerPath) - depth(b.containerPath));
  const mountArgs: string[] = [];
  for (const mount of ordered) {
    const source = await stat(mount.hostPath).catch(() => undefined);
    if (!source) throw new ContainerStartError("CreateContainerError", `mount source ${mount.hostPath} does not exist`);
    mountArgs.push(source.isDirectory() ? "dir" : "file", mount.hostPath, posix.resolve(mount.containerPath), mount.readOnly ? "ro" : "rw");
  }
  return {
    file: unshare,
    args: ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", MOUNT_SCRIPT, "sh", mountBin, mkdirBin, String(ordered.length), ...mountArgs, workingDir, ...argv],
  };
}

function depth(path: string): number {
  return posix.resolve(path).split("/").filter(Boolean).length;
}

/**
 * The command that runs `argv` in `workingDir` inside the mount namespace of
 * process `pid`; undefined when the node has no nsenter.
 */
export async function nsenterCommand(pid: number, workingDir: string, argv: string[]): Promise<{ file: string; args: string[] } | undefined> {
  const nsenter = await findOnHostPath("nsenter");
  if (!nsenter) return undefined;
  const script = 'cd -- "$1" && shift && exec "$@"';
  return { file: nsenter, args: ["--target", String(pid), "--mount", "--", "/bin/sh", "-c", script, "sh", workingDir, ...argv] };
}

/** A process's mount namespace (the /proc link): an adopted process in another than the agent's was started in a private one. */
export async function mountNamespaceOf(pid: number): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
}
