import { mkdir, rm } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { parseBytes, type Volume } from "../../desired/index.ts";
import type { AgentPod } from "../protocol.ts";
import { PodConfigError } from "./errors.ts";
import {
  collectFiles,
  configDirMode,
  createDirectory,
  downwardApiFiles,
  ensureDirectory,
  keyFiles,
  secretDirMode,
  writableDirMode,
  writeVolumeFiles,
  type VolumeFile,
} from "./volume-files.ts";
import { canMountTmpfs, ensureTmpfs, unmountUnder } from "./tmpfs.ts";
import { checkHostPathType, type PreparedVolume } from "./volume-mounts.ts";

/**
 * A pod's volumes on the node's disk, the kubelet's volume manager in small:
 *
 *   emptyDir               <podDir>/volumes/<name>     (medium Memory: <secretDir>/<name>, a tmpfs of
 *                                                      sizeLimit when the agent is root: tmpfs.ts)
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

// The mounts (and the PreparedVolume type) are volume-mounts.ts; still importable from here.
export { containerMounts, type PreparedVolume } from "./volume-mounts.ts";

export interface PrepareVolumesInput {
  pod: AgentPod;
  /** The pod's own directory. */
  podDir: string;
  /** The pod's directory for secrets and Memory emptyDirs: on tmpfs when the node has one. */
  secretDir: string;
  /** Root of PersistentVolumeClaim directories, shared by every pod of the node. */
  claimsDir: string;
}

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
    if (inMemory && canMountTmpfs()) {
      const { sizeLimit } = volume.emptyDir;
      await ensureTmpfs(hostPath, sizeLimit !== undefined ? parseBytes(sizeLimit) : undefined);
    }
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

/** Removes the pod's emptyDir, configMap, secret and projected data; hostPath and claim directories live elsewhere and stay. */
export async function removePodVolumes(input: { podDir: string; secretDir: string }): Promise<void> {
  // Memory emptyDirs of their own are tmpfs mounts: unmounted first, or the removal stops at them.
  await unmountUnder(input.secretDir);
  await rm(join(input.podDir, "volumes"), { recursive: true, force: true });
  await rm(input.secretDir, { recursive: true, force: true });
}

/**
 * Removes one claim's directory (its reclaim policy is Delete and no pod here
 * uses it: the caller checks). The names were checked by the protocol as DNS
 * labels (no "/", no ".."); the path is checked again to lie two levels under
 * `claimsDir`, so that nothing else can ever be removed. A symlink in its place
 * is removed, never followed.
 */
export async function removeClaimDirectory(claimsDir: string, namespace: string, name: string): Promise<void> {
  const root = resolve(claimsDir);
  const target = resolve(root, namespace, name);
  const parts = relative(root, target).split("/");
  if (parts.length !== 2 || parts[0] !== namespace || parts[1] !== name || parts.some((part) => part === "" || part === "." || part === "..")) {
    throw new Error(`refusing to remove ${target}: not a claim directory under ${root}`);
  }
  await rm(target, { recursive: true, force: true });
}
