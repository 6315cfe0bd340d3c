import { randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, realpathSync } from "node:fs";
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, posix, relative, resolve } from "node:path";
import type { Container, Volume } from "../../desired/index.ts";
import type { AgentPod } from "../protocol.ts";
import { metadataFieldValue } from "./env.ts";
import { PodConfigError } from "./errors.ts";
import type { Mount } from "./runtime/types.ts";

/**
 * A pod's volumes on the node's disk, the kubelet's volume manager in small:
 *
 *   emptyDir               <podDir>/volumes/<name>     (medium Memory: <secretDir>/<name>)
 *   configMap              <podDir>/volumes/<name>     files, read-only
 *   secret                 <secretDir>/<name>          files, read-only
 *   projected              <podDir>/volumes/<name>     (<secretDir>/<name> when a source is a secret)
 *   hostPath               the path itself, after its `type` check
 *   persistentVolumeClaim  <claimsDir>/<namespace>/<claimName>, kept after the pod
 *
 * The kubelet puts secrets on tmpfs, where they never touch a disk. capstan
 * writes them under `secretDir`, which the caller places on tmpfs when the
 * node has one, and always as files of mode 0600 at most in 0700
 * directories, whatever `defaultMode` asks: on a shared host the process
 * user is the only reader a secret should have.
 *
 * Preparing again (an agent restart) converges: changed files are replaced
 * atomically (temporary file + rename, so a reader sees the old or the new
 * content, never half), files no longer projected are removed, emptyDir and
 * claim contents are kept.
 */

export interface PreparedVolume {
  name: string;
  hostPath: string;
  readOnly: boolean;
  kind: "emptyDir" | "hostPath" | "configMap" | "secret" | "projected" | "persistentVolumeClaim";
}

export interface PrepareVolumesInput {
  pod: AgentPod;
  /** The pod's own directory. */
  podDir: string;
  /** The pod's directory for secrets and Memory emptyDirs: on tmpfs when the node has one. */
  secretDir: string;
  /** Root of PersistentVolumeClaim directories, shared by every pod of the node. */
  claimsDir: string;
}

/** A file of a configMap/secret/projected volume, relative to the volume directory. */
interface VolumeFile {
  data: Buffer;
  mode: number;
}

const configDirMode = 0o755;
const secretDirMode = 0o700;
// Writable by any user, like Kubernetes' emptyDir: an image's non-root user must be able to write its
// scratch space. Other host users are kept out by the agent's 0700 state directory above it.
const writableDirMode = 0o777;

export async function prepareVolumes(input: PrepareVolumesInput): Promise<Map<string, PreparedVolume>> {
  const prepared = new Map<string, PreparedVolume>();
  for (const volume of input.pod.spec.volumes ?? []) prepared.set(volume.name, await prepareVolume(volume, input));
  return prepared;
}

async function prepareVolume(volume: Volume, input: PrepareVolumesInput): Promise<PreparedVolume> {
  const { name } = volume;
  const { pod } = input;
  const podVolumeDir = join(input.podDir, "volumes", name);
  const secretVolumeDir = join(input.secretDir, name);

  if (volume.emptyDir) {
    const inMemory = volume.emptyDir.medium === "Memory";
    await ensureDirectory(inMemory ? input.secretDir : dirname(podVolumeDir), inMemory ? secretDirMode : configDirMode);
    const hostPath = inMemory ? secretVolumeDir : podVolumeDir;
    await createDirectory(hostPath, writableDirMode);
    return { name, hostPath, readOnly: false, kind: "emptyDir" };
  }
  if (volume.hostPath) {
    const hostPath = resolve(volume.hostPath.path);
    await checkHostPathType(hostPath, volume.hostPath.type);
    return { name, hostPath, readOnly: false, kind: "hostPath" };
  }
  if (volume.persistentVolumeClaim) {
    const namespaceDir = join(input.claimsDir, pod.namespace);
    await mkdir(namespaceDir, { recursive: true, mode: configDirMode });
    const hostPath = join(namespaceDir, volume.persistentVolumeClaim.claimName);
    await createDirectory(hostPath, writableDirMode);
    return { name, hostPath, readOnly: volume.persistentVolumeClaim.readOnly, kind: "persistentVolumeClaim" };
  }

  let files: Map<string, VolumeFile>;
  let holdsSecrets: boolean;
  let kind: PreparedVolume["kind"];
  if (volume.configMap) {
    const source = volume.configMap;
    files = collectFiles(name, [keyFiles(pod, "configMap", source.name, source.items, source.defaultMode, source.optional)]);
    holdsSecrets = false;
    kind = "configMap";
  } else if (volume.secret) {
    const source = volume.secret;
    files = collectFiles(name, [keyFiles(pod, "secret", source.secretName, source.items, source.defaultMode, source.optional)]);
    holdsSecrets = true;
    kind = "secret";
  } else if (volume.projected) {
    const { sources, defaultMode } = volume.projected;
    files = collectFiles(
      name,
      sources.map((source) => {
        if (source.configMap) {
          const { name: configMap, items, optional } = source.configMap;
          return keyFiles(pod, "configMap", configMap, items, defaultMode, optional);
        }
        if (source.secret) {
          const { name: secret, items, optional } = source.secret;
          return keyFiles(pod, "secret", secret, items, defaultMode, optional);
        }
        return downwardApiFiles(name, pod, source.downwardAPI!.items, defaultMode);
      }),
    );
    holdsSecrets = sources.some((source) => source.secret !== undefined);
    kind = "projected";
  } else {
    throw new PodConfigError("CreateContainerConfigError", `volume "${name}" has no supported volume type`);
  }

  if (holdsSecrets) {
    await ensureDirectory(input.secretDir, secretDirMode);
    await writeVolumeFiles(secretVolumeDir, files, secretDirMode, secretFileMode);
    return { name, hostPath: secretVolumeDir, readOnly: true, kind };
  }
  await ensureDirectory(dirname(podVolumeDir), configDirMode);
  await writeVolumeFiles(podVolumeDir, files, configDirMode, (mode) => mode);
  return { name, hostPath: podVolumeDir, readOnly: true, kind };
}

/** At most 0600, and always readable by its owner (a mode the process cannot read would only break it). */
function secretFileMode(mode: number): number {
  return (mode & 0o600) | 0o400;
}

// ---------------------------------------------------------------- files of a volume (pure)

type FileList = { path: string; file: VolumeFile }[];

/** The files of one ConfigMap or Secret: every key, or only `items`. Missing and not optional → error. */
function keyFiles(
  pod: AgentPod,
  type: "configMap" | "secret",
  sourceName: string,
  items: { key: string; path: string; mode?: number }[] | undefined,
  defaultMode: number,
  optional: boolean | undefined,
): FileList {
  const raw = type === "configMap" ? pod.configMaps[sourceName] : pod.secrets[sourceName];
  if (raw === undefined) {
    if (optional) return [];
    throw new PodConfigError("CreateContainerConfigError", `${type === "configMap" ? "configmap" : "secret"} "${sourceName}" not found`);
  }
  const decode = (value: string) => (type === "configMap" ? Buffer.from(value, "utf8") : Buffer.from(value, "base64"));
  if (items === undefined) {
    return Object.entries(raw).map(([key, value]) => ({ path: key, file: { data: decode(value), mode: defaultMode } }));
  }
  const files: FileList = [];
  for (const item of items) {
    if (!Object.hasOwn(raw, item.key)) {
      if (optional) continue;
      const kind = type === "configMap" ? "ConfigMap" : "Secret";
      throw new PodConfigError("CreateContainerConfigError", `couldn't find key ${item.key} in ${kind} ${pod.namespace}/${sourceName}`);
    }
    files.push({ path: item.path, file: { data: decode(raw[item.key]!), mode: item.mode ?? defaultMode } });
  }
  return files;
}

function downwardApiFiles(
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
function collectFiles(volumeName: string, lists: FileList[]): Map<string, VolumeFile> {
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

async function writeVolumeFiles(
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

/** Leaves an identical file alone; otherwise writes a temporary file beside it and renames it over. */
async function writeFileAtomically(path: string, data: Buffer, mode: number): Promise<void> {
  const current = await lstat(path).catch(() => undefined);
  if (current?.isFile() && (current.mode & 0o777) === mode && current.size === data.length && (await readFile(path)).equals(data)) {
    return;
  }
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx", mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode); // open's mode is filtered by the umask
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
}

/** mkdir -p with `mode` on the directory itself, set only when it is created (a re-prepare keeps what is there). */
async function createDirectory(path: string, mode: number): Promise<void> {
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
async function ensureDirectory(path: string, mode: number): Promise<void> {
  await createDirectory(path, mode);
  await chmod(path, mode);
}

// ---------------------------------------------------------------- hostPath

async function checkHostPathType(path: string, type: NonNullable<Volume["hostPath"]>["type"]): Promise<void> {
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

/** Removes the pod's emptyDir, configMap, secret and projected data; hostPath and claim directories live elsewhere and stay. */
export async function removePodVolumes(input: { podDir: string; secretDir: string }): Promise<void> {
  await rm(join(input.podDir, "volumes"), { recursive: true, force: true });
  await rm(input.secretDir, { recursive: true, force: true });
}
