import { chmod, mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { AgentPod } from "../protocol.ts";
import { metadataFieldValue } from "./env.ts";
import { writeFileAtomically } from "./atomic-file.ts";
import { PodConfigError } from "./errors.ts";

/**
 * The files of a configMap, secret or projected volume: which files, planned
 * from the pod (pure), then written, each replaced atomically, with whatever
 * is no longer projected removed. And the directories volumes live in.
 */

/** A file of a configMap/secret/projected volume, relative to the volume directory. */
export interface VolumeFile {
  data: Buffer;
  mode: number;
}

export const configDirMode = 0o755;
export const secretDirMode = 0o700;
// Writable by any user, like Kubernetes' emptyDir: an image's non-root user must be able to write its
// scratch space. Other host users are kept out by the agent's 0700 state directory above it.
export const writableDirMode = 0o777;

// ---------------------------------------------------------------- files of a volume (pure)

type FileList = { path: string; file: VolumeFile }[];

/** The files of one ConfigMap or Secret: every key, or only `items`. Missing and not optional → error. */
export function keyFiles(
  pod: AgentPod,
  type: "configMap" | "secret",
  sourceName: string,
  items: { key: string; path: string; mode?: number }[] | undefined,
  defaultMode: number,
  optional: boolean | undefined,
): FileList {
  const content = sourceContent(pod, type, sourceName);
  if (content === undefined) {
    if (optional) return [];
    throw new PodConfigError("CreateContainerConfigError", `${type === "configMap" ? "configmap" : "secret"} "${sourceName}" not found`);
  }
  if (items === undefined) {
    return [...content].map(([key, data]) => ({ path: key, file: { data, mode: defaultMode } }));
  }
  const files: FileList = [];
  for (const item of items) {
    const data = content.get(item.key);
    if (data === undefined) {
      if (optional) continue;
      const kind = type === "configMap" ? "ConfigMap" : "Secret";
      throw new PodConfigError("CreateContainerConfigError", `couldn't find key ${item.key} in ${kind} ${pod.namespace}/${sourceName}`);
    }
    files.push({ path: item.path, file: { data, mode: item.mode ?? defaultMode } });
  }
  return files;
}

/** The bytes of every key of a ConfigMap (`data` as UTF-8, `binaryData` decoded) or Secret (decoded); undefined when the pod did not get it. */
function sourceContent(pod: AgentPod, type: "configMap" | "secret", name: string): Map<string, Buffer> | undefined {
  if (type === "secret") {
    const data = pod.secrets[name];
    return data && new Map(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, "base64")]));
  }
  const data = pod.configMaps[name];
  if (data === undefined) return undefined;
  const content = new Map(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, "utf8")]));
  for (const [key, value] of Object.entries(pod.configMapBinaryData[name] ?? {})) content.set(key, Buffer.from(value, "base64"));
  return content;
}

export function downwardApiFiles(
  volumeName: string,
  pod: AgentPod,
  items: { path: string; fieldRef: { fieldPath: string }; mode?: number }[],
  defaultMode: number,
): FileList {
  return items.map((item) => ({
    path: item.path,
    file: { data: Buffer.from(downwardApiValue(volumeName, item.fieldRef.fieldPath, pod), "utf8"), mode: item.mode ?? defaultMode },
  }));
}

/** A downward API file's content. The whole label or annotation map is `key="value"` lines, sorted, like the kubelet writes it. */
function downwardApiValue(volumeName: string, fieldPath: string, pod: AgentPod): string {
  if (fieldPath === "metadata.labels") return formatMap(pod.labels);
  if (fieldPath === "metadata.annotations") return formatMap(pod.annotations);
  const value = metadataFieldValue(fieldPath, pod);
  if (value === undefined) {
    // Like Kubernetes: node and status fields are for environment variables only.
    throw new PodConfigError("CreateContainerConfigError", `volume "${volumeName}": fieldPath ${fieldPath} is not supported in a downwardAPI volume`);
  }
  return value;
}

function formatMap(map: Record<string, string>): string {
  return Object.keys(map)
    .sort()
    .map((key) => `${key}=${JSON.stringify(map[key])}`)
    .join("\n");
}

/**
 * The files of a volume by normalized relative path. Keys and item paths come
 * from users: one that leaves the volume directory, names it, or collides
 * with another file (or with a directory another file needs) is refused.
 */
export function collectFiles(volumeName: string, lists: FileList[]): Map<string, VolumeFile> {
  const files = new Map<string, VolumeFile>();
  for (const { path, file } of lists.flat()) {
    const normalized = containedPath(volumeName, path);
    if (files.has(normalized)) {
      throw new PodConfigError("CreateContainerConfigError", `volume "${volumeName}": conflicting duplicate paths "${normalized}"`);
    }
    files.set(normalized, file);
  }
  for (const path of files.keys()) {
    for (const ancestor of ancestorsOf(path)) {
      if (files.has(ancestor)) {
        throw new PodConfigError("CreateContainerConfigError", `volume "${volumeName}": path "${path}" needs "${ancestor}" to be a directory, but it is a file`);
      }
    }
  }
  return files;
}

/** `path` normalized, when it names something strictly inside the volume directory. */
function containedPath(volumeName: string, path: string): string {
  const normalized = posix.normalize(path).replace(/\/+$/, "");
  if (path === "" || posix.isAbsolute(normalized) || normalized === "." || normalized === ".." || normalized.startsWith("../")) {
    throw new PodConfigError("CreateContainerConfigError", `volume "${volumeName}": path "${path}" is outside the volume directory`);
  }
  return normalized;
}

/** "a/b/c" → ["a", "a/b"]. */
function ancestorsOf(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join("/"));
}

// ---------------------------------------------------------------- writing them

export async function writeVolumeFiles(
  root: string,
  files: Map<string, VolumeFile>,
  dirMode: number,
  fileMode: (mode: number) => number,
): Promise<void> {
  await createDirectory(root, dirMode);
  await chmod(root, dirMode);
  const directories = new Set([...files.keys()].flatMap(ancestorsOf));
  await prune(root, "", files, directories);
  for (const [path, file] of files) {
    let directory = root;
    for (const part of dirname(path) === "." ? [] : dirname(path).split("/")) {
      directory = join(directory, part);
      await createDirectory(directory, dirMode);
    }
    await writeFileAtomically(join(root, path), file.data, fileMode(file.mode));
  }
}

/** Removes whatever under `directory` is not a wanted file or a directory on the way to one (symlinks included). */
async function prune(directory: string, relativeDir: string, files: Map<string, VolumeFile>, directories: Set<string>): Promise<void> {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = relativeDir === "" ? entry.name : `${relativeDir}/${entry.name}`;
    const full = join(directory, entry.name);
    if (files.has(path) && entry.isFile()) continue;
    if (directories.has(path) && entry.isDirectory()) {
      await prune(full, path, files, directories);
      continue;
    }
    await rm(full, { recursive: true, force: true });
  }
}

/** mkdir -p with `mode` on the directory itself, set only when it is created (a re-prepare keeps what is there). */
export async function createDirectory(path: string, mode: number): Promise<void> {
  try {
    await mkdir(path, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    await mkdir(dirname(path), { recursive: true, mode: configDirMode });
    await mkdir(path, { mode });
  }
  await chmod(path, mode); // mkdir's mode is filtered by the umask
}

/** A directory that exists with exactly `mode` (the secret root must be 0700 even when something made it before). */
export async function ensureDirectory(path: string, mode: number): Promise<void> {
  await createDirectory(path, mode);
  await chmod(path, mode);
}
