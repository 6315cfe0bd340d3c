import { lstatSync, mkdirSync, realpathSync } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { Container, Volume } from "../../desired/index.ts";
import { PodConfigError } from "./errors.ts";
import type { Mount } from "./runtime/types.ts";

/**
 * Where volumes meet the host's own paths: the type check of a hostPath
 * volume, and a container's mounts, whose subPaths must stay inside their
 * volume.
 */

/** A volume ready on the node's disk (volumes.ts prepares it). */
export interface PreparedVolume {
  name: string;
  hostPath: string;
  readOnly: boolean;
  kind: "emptyDir" | "hostPath" | "configMap" | "secret" | "projected" | "persistentVolumeClaim";
}

// ---------------------------------------------------------------- hostPath

export async function checkHostPathType(path: string, type: NonNullable<Volume["hostPath"]>["type"]): Promise<void> {
  const fail = (what: string) => new PodConfigError("CreateContainerConfigError", `hostPath type check failed: ${path} ${what}`);
  const statOrUndefined = async () => {
    try {
      return await stat(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw new PodConfigError("CreateContainerConfigError", `hostPath type check failed: ${path}: ${(error as Error).message}`);
    }
  };

  switch (type) {
    case "":
      return;
    case "DirectoryOrCreate":
      if ((await statOrUndefined()) === undefined) {
        await mkdir(path, { recursive: true, mode: 0o755 }).catch(() => undefined);
      }
      if (!(await statOrUndefined())?.isDirectory()) throw fail("is not a directory");
      return;
    case "Directory":
      if (!(await statOrUndefined())?.isDirectory()) throw fail("is not a directory");
      return;
    case "FileOrCreate":
      if ((await statOrUndefined()) === undefined) {
        try {
          await (await open(path, "wx", 0o644)).close();
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "ENOENT") throw fail(`cannot be created: its parent directory does not exist`);
          if (code !== "EEXIST") throw fail(`cannot be created: ${(error as Error).message}`);
        }
      }
      if (!(await statOrUndefined())?.isFile()) throw fail("is not a file");
      return;
    case "File":
      if (!(await statOrUndefined())?.isFile()) throw fail("is not a file");
      return;
    case "Socket":
      if (!(await statOrUndefined())?.isSocket()) throw fail("is not a socket file");
      return;
    case "CharDevice":
      if (!(await statOrUndefined())?.isCharacterDevice()) throw fail("is not a character device");
      return;
    case "BlockDevice":
      if (!(await statOrUndefined())?.isBlockDevice()) throw fail("is not a block device");
      return;
  }
}

// ---------------------------------------------------------------- mounts

/** A container's mounts; configMap, secret and projected volumes are always read-only, like Kubernetes. */
export function containerMounts(container: Container, volumes: Map<string, PreparedVolume>): Mount[] {
  return (container.volumeMounts ?? []).map((mount) => {
    const volume = volumes.get(mount.name);
    if (volume === undefined) {
      throw new PodConfigError("CreateContainerConfigError", `volume "${mount.name}" of container "${container.name}" is not a volume of the pod`);
    }
    return {
      hostPath: mount.subPath === undefined ? volume.hostPath : subPathHostPath(volume, mount.subPath),
      containerPath: mount.mountPath,
      readOnly: volume.readOnly || mount.readOnly === true,
    };
  });
}

/**
 * The host path of a subPath, which must stay inside its volume after
 * resolving `..` and symlinks: a process can plant a symlink in an emptyDir
 * and wait for its next start to mount the host's /etc. A missing subPath of
 * a writable volume is created as a directory, as the kubelet does. Checked
 * at start; a symlink swapped in between the check and the mount is the
 * residual risk the kubelet closes with openat and capstan does not.
 */
function subPathHostPath(volume: PreparedVolume, subPath: string): string {
  const escape = () =>
    new PodConfigError("CreateContainerConfigError", `subPath "${subPath}" of volume "${volume.name}" is outside the volume`);
  const lexical = resolve(volume.hostPath, subPath);
  if (!isWithin(resolve(volume.hostPath), lexical)) throw escape();

  let root: string;
  try {
    root = realpathSync(volume.hostPath);
  } catch {
    throw new PodConfigError("CreateContainerConfigError", `volume "${volume.name}": ${volume.hostPath} does not exist`);
  }

  // The deepest part that exists, resolved; the rest is to be created.
  let existing = lexical;
  const missing: string[] = [];
  let resolved: string;
  try {
    while (lstatSync(existing, { throwIfNoEntry: false }) === undefined) {
      missing.unshift(basename(existing));
      existing = dirname(existing);
    }
    resolved = realpathSync(existing);
  } catch (error) {
    throw new PodConfigError("CreateContainerConfigError", `subPath "${subPath}" of volume "${volume.name}": ${(error as Error).message}`);
  }
  if (!isWithin(root, resolved)) throw escape();
  if (missing.length === 0) return resolved;

  const writable = !volume.readOnly && (volume.kind === "emptyDir" || volume.kind === "hostPath" || volume.kind === "persistentVolumeClaim");
  if (!writable) {
    throw new PodConfigError("CreateContainerConfigError", `subPath "${subPath}" does not exist in volume "${volume.name}"`);
  }
  try {
    mkdirSync(join(resolved, ...missing), { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new PodConfigError("CreateContainerConfigError", `subPath "${subPath}" of volume "${volume.name}": ${(error as Error).message}`);
  }
  const created = realpathSync(join(resolved, ...missing));
  if (!isWithin(root, created)) throw escape();
  return created;
}

function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel));
}
