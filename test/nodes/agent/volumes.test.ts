import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, statfs, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PodConfigError } from "../../../src/nodes/agent/errors.ts";
import { mountPointsUnder, parseMountPoints, tmpfsOptions, unmountUnder } from "../../../src/nodes/agent/tmpfs.ts";
import { containerMounts, prepareVolumes, removePodVolumes, type PreparedVolume } from "../../../src/nodes/agent/volumes.ts";
import { agentPodSchema, type AgentPod, type AgentPodInput } from "../../../src/nodes/protocol.ts";

let root: string;
let podDir: string;
let secretDir: string;
let claimsDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "capstan-volumes-"));
  podDir = join(root, "pods", "pod-1");
  secretDir = join(root, "secrets", "pod-1");
  claimsDir = join(root, "claims");
  await mkdir(podDir, { recursive: true });
});

afterEach(async () => {
  await unmountUnder(root);
  await rm(root, { recursive: true, force: true });
});

const base64 = (data: string | Buffer) => Buffer.from(data).toString("base64");
const binary = Buffer.from(Array.from({ length: 256 }, (_, index) => index));

function podWith(volumes: unknown[], extra: Partial<AgentPodInput> = {}, volumeMounts: unknown[] = []): AgentPod {
  return agentPodSchema.parse({
    uid: "pod-1",
    namespace: "shop",
    name: "web-0",
    labels: { app: "web", tier: "front" },
    annotations: { "capstan.dev/commit": "abc123" },
    spec: { containers: [{ name: "app", command: ["node", "server.js"], volumeMounts }], volumes },
    configMaps: { "web-config": { "app.yaml": "port: 8080\n", "log.level": "debug" } },
    secrets: { "web-secrets": { "api-token": base64("s3cr3t"), "key.bin": base64(binary) } },
    ...extra,
  });
}

function prepare(pod: AgentPod) {
  return prepareVolumes({ pod, podDir, secretDir, claimsDir });
}

async function prepareOne(volume: Record<string, unknown>, extra: Partial<AgentPodInput> = {}): Promise<PreparedVolume> {
  const prepared = await prepare(podWith([{ name: "vol", ...volume }], extra));
  return prepared.get("vol")!;
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Every file under `directory`, relative, sorted. */
async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1))
    .sort();
}

async function configError(promise: Promise<unknown>): Promise<PodConfigError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(PodConfigError);
  expect((error as PodConfigError).reason).toBe("CreateContainerConfigError");
  return error as PodConfigError;
}

describe("emptyDir", () => {
  it("is a directory of the pod, writable by any user like Kubernetes', kept across a re-prepare", async () => {
    const volume = await prepareOne({ emptyDir: {} });
    expect(volume).toEqual({ name: "vol", hostPath: join(podDir, "volumes", "vol"), readOnly: false, kind: "emptyDir" });
    expect(await modeOf(volume.hostPath)).toBe(0o777);
    await writeFile(join(volume.hostPath, "scratch"), "kept");
    await prepareOne({ emptyDir: {} });
    expect(await readFile(join(volume.hostPath, "scratch"), "utf8")).toBe("kept");
  });

  it("goes under the secret directory (the caller's tmpfs) with medium Memory", async () => {
    const volume = await prepareOne({ emptyDir: { medium: "Memory" } });
    expect(volume.hostPath).toBe(join(secretDir, "vol"));
    expect(await modeOf(secretDir)).toBe(0o700);
    expect((await stat(volume.hostPath)).isDirectory()).toBe(true);
  });

  it("is a tmpfs of its own, sizeLimit bytes large, when the agent is root; kept across a re-prepare and unmounted with the pod", async () => {
    if (process.getuid?.() !== 0) throw new Error("this test needs root, as the CI runs it: a non-root agent cannot mount");
    const volume = await prepareOne({ emptyDir: { medium: "Memory", sizeLimit: "1Mi" } });
    const tmpfsMagic = 0x01021994;
    const fs = await statfs(volume.hostPath);
    expect(fs.type).toBe(tmpfsMagic);
    expect(fs.blocks * fs.bsize).toBe(1024 * 1024);
    expect(await modeOf(volume.hostPath)).toBe(0o777);
    await writeFile(join(volume.hostPath, "small"), "kept");
    await expect(writeFile(join(volume.hostPath, "big"), Buffer.alloc(2 * 1024 * 1024))).rejects.toMatchObject({ code: "ENOSPC" });

    await prepareOne({ emptyDir: { medium: "Memory", sizeLimit: "1Mi" } });
    expect(await readFile(join(volume.hostPath, "small"), "utf8")).toBe("kept");
    expect(await mountPointsUnder(secretDir)).toEqual([volume.hostPath]);

    await removePodVolumes({ podDir, secretDir });
    expect(await mountPointsUnder(secretDir)).toEqual([]);
    await expect(stat(secretDir)).rejects.toThrow();
  });

  it("reads mount points with their escapes and builds the mount options (pure)", () => {
    const mountinfo = "36 35 98:0 / /mnt/with\\040space rw - tmpfs tmpfs rw\n37 35 98:0 / /dev/shm rw - tmpfs tmpfs rw\n";
    expect(parseMountPoints(mountinfo)).toEqual(["/mnt/with space", "/dev/shm"]);
    expect(tmpfsOptions(undefined)).toBe("mode=0777");
    expect(tmpfsOptions(1048576)).toBe("mode=0777,size=1048576");
  });
});

describe("hostPath", () => {
  it("with no type is taken as given, checked and created by nothing", async () => {
    const path = join(root, "host", "missing");
    const volume = await prepareOne({ hostPath: { path } });
    expect(volume).toEqual({ name: "vol", hostPath: path, readOnly: false, kind: "hostPath" });
    await expect(stat(path)).rejects.toThrow("ENOENT");
  });

  it("DirectoryOrCreate creates the directory with its parents, and accepts an existing one", async () => {
    const path = join(root, "host", "data", "app");
    await prepareOne({ hostPath: { path, type: "DirectoryOrCreate" } });
    expect((await stat(path)).isDirectory()).toBe(true);
    expect(await modeOf(path)).toBe(0o755);
    await writeFile(join(path, "kept"), "x");
    await prepareOne({ hostPath: { path, type: "DirectoryOrCreate" } });
    expect(await readFile(join(path, "kept"), "utf8")).toBe("x");
  });

  it("FileOrCreate creates an empty file and keeps an existing one", async () => {
    const path = join(root, "app.db");
    await prepareOne({ hostPath: { path, type: "FileOrCreate" } });
    expect((await stat(path)).size).toBe(0);
    await writeFile(path, "rows");
    await prepareOne({ hostPath: { path, type: "FileOrCreate" } });
    expect(await readFile(path, "utf8")).toBe("rows");
  });

  describe("type checks", () => {
    let socketServer: Server;
    let socketPath: string;
    let filePath: string;
    let dirPath: string;

    beforeEach(async () => {
      socketPath = join(root, "agent.sock");
      socketServer = createServer();
      await new Promise<void>((resolve) => socketServer.listen(socketPath, resolve));
      filePath = join(root, "file.txt");
      await writeFile(filePath, "x");
      dirPath = join(root, "dir");
      await mkdir(dirPath);
    });

    afterEach(async () => {
      await new Promise((resolve) => socketServer.close(resolve));
    });

    const paths: Record<string, () => string> = {
      "a directory": () => dirPath,
      "a file": () => filePath,
      "a socket": () => socketPath,
      "/dev/null": () => "/dev/null",
      "a missing path": () => join(root, "nope"),
      "a path whose parent is missing": () => join(root, "no-parent", "file"),
    };

    it.each([
      ["Directory", "a directory"],
      ["DirectoryOrCreate", "a directory"],
      ["File", "a file"],
      ["FileOrCreate", "a file"],
      ["Socket", "a socket"],
      ["CharDevice", "/dev/null"],
    ])("%s accepts %s", async (type, what) => {
      const path = paths[what]!();
      expect((await prepareOne({ hostPath: { path, type } })).hostPath).toBe(path);
    });

    it.each([
      ["Directory", "a missing path", "is not a directory"],
      ["Directory", "a file", "is not a directory"],
      ["DirectoryOrCreate", "a file", "is not a directory"],
      ["File", "a missing path", "is not a file"],
      ["File", "a directory", "is not a file"],
      ["FileOrCreate", "a directory", "is not a file"],
      ["FileOrCreate", "a path whose parent is missing", "cannot be created: its parent directory does not exist"],
      ["Socket", "a file", "is not a socket file"],
      ["CharDevice", "a file", "is not a character device"],
      ["BlockDevice", "/dev/null", "is not a block device"],
    ])("%s refuses %s", async (type, what, problem) => {
      const path = paths[what]!();
      const error = await configError(prepareOne({ hostPath: { path, type } }));
      expect(error.message).toBe(`hostPath type check failed: ${path} ${problem}`);
    });
  });
});

describe("configMap", () => {
  it("writes every key as a file, mode 0644 by default, read-only", async () => {
    const volume = await prepareOne({ configMap: { name: "web-config" } });
    expect(volume).toEqual({ name: "vol", hostPath: join(podDir, "volumes", "vol"), readOnly: true, kind: "configMap" });
    expect(await listFiles(volume.hostPath)).toEqual(["app.yaml", "log.level"]);
    expect(await readFile(join(volume.hostPath, "app.yaml"), "utf8")).toBe("port: 8080\n");
    expect(await modeOf(join(volume.hostPath, "app.yaml"))).toBe(0o644);
  });

  it("honours defaultMode, and writes only the items given, at their paths and modes", async () => {
    const volume = await prepareOne({
      configMap: { name: "web-config", defaultMode: 0o640, items: [{ key: "app.yaml", path: "conf/app.yaml" }, { key: "log.level", path: "level", mode: 0o600 }] },
    });
    expect(await listFiles(volume.hostPath)).toEqual(["conf/app.yaml", "level"]);
    expect(await modeOf(join(volume.hostPath, "conf/app.yaml"))).toBe(0o640);
    expect(await modeOf(join(volume.hostPath, "level"))).toBe(0o600);
    expect(await readFile(join(volume.hostPath, "level"), "utf8")).toBe("debug");
  });

  it("writes binaryData keys byte for byte, beside the data keys, and as items", async () => {
    const extra = { configMapBinaryData: { "web-config": { "logo.bin": base64(binary) } } };
    const whole = await prepareOne({ configMap: { name: "web-config" } }, extra);
    expect(await listFiles(whole.hostPath)).toEqual(["app.yaml", "log.level", "logo.bin"]);
    expect((await readFile(join(whole.hostPath, "logo.bin"))).equals(binary)).toBe(true);
    const item = await prepareOne({ configMap: { name: "web-config", items: [{ key: "logo.bin", path: "img/logo" }] } }, extra);
    expect((await readFile(join(item.hostPath, "img/logo"))).equals(binary)).toBe(true);
  });

  it("fails on a missing ConfigMap or item key unless optional", async () => {
    expect((await configError(prepareOne({ configMap: { name: "absent" } }))).message).toBe('configmap "absent" not found');
    const missingKey = await configError(prepareOne({ configMap: { name: "web-config", items: [{ key: "nope", path: "nope" }] } }));
    expect(missingKey.message).toBe("couldn't find key nope in ConfigMap shop/web-config");

    const optionalMap = await prepareOne({ configMap: { name: "absent", optional: true } });
    expect(await listFiles(optionalMap.hostPath)).toEqual([]);
    const optionalKey = await prepareOne({
      configMap: { name: "web-config", optional: true, items: [{ key: "nope", path: "nope" }, { key: "log.level", path: "level" }] },
    });
    expect(await listFiles(optionalKey.hostPath)).toEqual(["level"]);
  });
});

describe("secret", () => {
  it("writes base64-decoded, binary-safe files of mode 0600 in a 0700 directory under the secret directory, whatever defaultMode says", async () => {
    const volume = await prepareOne({ secret: { secretName: "web-secrets", defaultMode: 0o777 } });
    expect(volume).toEqual({ name: "vol", hostPath: join(secretDir, "vol"), readOnly: true, kind: "secret" });
    expect(await modeOf(volume.hostPath)).toBe(0o700);
    expect(await listFiles(volume.hostPath)).toEqual(["api-token", "key.bin"]);
    expect(await readFile(join(volume.hostPath, "api-token"), "utf8")).toBe("s3cr3t");
    expect((await readFile(join(volume.hostPath, "key.bin"))).equals(binary)).toBe(true);
    for (const file of ["api-token", "key.bin"]) expect(await modeOf(join(volume.hostPath, file))).toBe(0o600);
  });

  it("keeps a stricter mode, and the default 0644 becomes 0600", async () => {
    const volume = await prepareOne({
      secret: { secretName: "web-secrets", items: [{ key: "api-token", path: "token", mode: 0o400 }, { key: "key.bin", path: "tls/key.bin" }] },
    });
    expect(await modeOf(join(volume.hostPath, "token"))).toBe(0o400);
    expect(await modeOf(join(volume.hostPath, "tls/key.bin"))).toBe(0o600);
    expect(await modeOf(join(volume.hostPath, "tls"))).toBe(0o700);
  });

  it("fails on a missing Secret or item key unless optional", async () => {
    expect((await configError(prepareOne({ secret: { secretName: "absent" } }))).message).toBe('secret "absent" not found');
    const missingKey = await configError(prepareOne({ secret: { secretName: "web-secrets", items: [{ key: "password", path: "p" }] } }));
    expect(missingKey.message).toBe("couldn't find key password in Secret shop/web-secrets");
    expect(await listFiles((await prepareOne({ secret: { secretName: "absent", optional: true } })).hostPath)).toEqual([]);
  });
});

describe("projected", () => {
  const downwardAPI = {
    items: [
      { path: "name", fieldRef: { fieldPath: "metadata.name" } },
      { path: "meta/namespace", fieldRef: { fieldPath: "metadata.namespace" } },
      { path: "meta/uid", fieldRef: { fieldPath: "metadata.uid" } },
      { path: "tier", fieldRef: { fieldPath: "metadata.labels['tier']" }, mode: 0o600 },
      { path: "commit", fieldRef: { fieldPath: "metadata.annotations['capstan.dev/commit']" } },
    ],
  };

  it("combines ConfigMap keys and downward API fields in one read-only directory of the pod", async () => {
    const volume = await prepareOne({
      projected: { sources: [{ configMap: { name: "web-config", items: [{ key: "app.yaml", path: "app.yaml" }] } }, { downwardAPI }] },
    });
    expect(volume).toEqual({ name: "vol", hostPath: join(podDir, "volumes", "vol"), readOnly: true, kind: "projected" });
    expect(await listFiles(volume.hostPath)).toEqual(["app.yaml", "commit", "meta/namespace", "meta/uid", "name", "tier"]);
    const read = (path: string) => readFile(join(volume.hostPath, path), "utf8");
    expect(await read("name")).toBe("web-0");
    expect(await read("meta/namespace")).toBe("shop");
    expect(await read("meta/uid")).toBe("pod-1");
    expect(await read("tier")).toBe("front");
    expect(await read("commit")).toBe("abc123");
    expect(await modeOf(join(volume.hostPath, "tier"))).toBe(0o600);
    expect(await modeOf(join(volume.hostPath, "name"))).toBe(0o644);
  });

  it("goes under the secret directory, 0600 in 0700, when any source is a Secret", async () => {
    const volume = await prepareOne({
      projected: {
        sources: [{ configMap: { name: "web-config" } }, { secret: { name: "web-secrets", items: [{ key: "api-token", path: "token" }] } }],
      },
    });
    expect(volume.hostPath).toBe(join(secretDir, "vol"));
    expect(await modeOf(volume.hostPath)).toBe(0o700);
    expect(await listFiles(volume.hostPath)).toEqual(["app.yaml", "log.level", "token"]);
    for (const file of ["app.yaml", "log.level", "token"]) expect(await modeOf(join(volume.hostPath, file))).toBe(0o600);
    expect(await readFile(join(volume.hostPath, "token"), "utf8")).toBe("s3cr3t");
  });

  it("writes whole label and annotation maps as sorted key=\"value\" lines, like the kubelet", async () => {
    const items = [
      { path: "labels", fieldRef: { fieldPath: "metadata.labels" } },
      { path: "annotations", fieldRef: { fieldPath: "metadata.annotations" } },
    ];
    const pod = podWith([{ name: "vol", projected: { sources: [{ downwardAPI: { items } }] } }], {
      labels: { tier: "front", app: "web", quote: 'say "hi"' },
      annotations: { "example.com/owner": "team-a" },
    });
    const volume = (await prepare(pod)).get("vol")!;
    expect(await readFile(join(volume.hostPath, "labels"), "utf8")).toBe('app="web"\nquote="say \\"hi\\""\ntier="front"');
    expect(await readFile(join(volume.hostPath, "annotations"), "utf8")).toBe('example.com/owner="team-a"');
  });

  it("refuses node and status fields, which Kubernetes only offers to environment variables", async () => {
    const volumes = [{ name: "vol", projected: { sources: [{ downwardAPI: { items: [{ path: "node", fieldRef: { fieldPath: "spec.nodeName" } }] } }] } }];
    // The manifest schema refuses it first; the agent, which may meet a pod from an older control plane, refuses it too.
    expect(() => podWith(volumes)).toThrow(/supported fieldPaths in a downwardAPI volume are metadata\.name/);
    const pod = podWith([{ ...volumes[0], projected: { sources: [{ downwardAPI: { items: [{ path: "node", fieldRef: { fieldPath: "metadata.name" } }] } }] } }]);
    pod.spec.volumes![0]!.projected!.sources[0]!.downwardAPI!.items[0]!.fieldRef.fieldPath = "spec.nodeName";
    const error = await configError(prepare(pod).then((prepared) => prepared.get("vol")));
    expect(error.message).toBe('volume "vol": fieldPath spec.nodeName is not supported in a downwardAPI volume');
  });

  it("refuses two sources writing the same path", async () => {
    const error = await configError(
      prepareOne({ projected: { sources: [{ configMap: { name: "web-config" } }, { configMap: { name: "other" } }] } }, {
        configMaps: { "web-config": { "app.yaml": "a" }, other: { "app.yaml": "b" } },
      }),
    );
    expect(error.message).toBe('volume "vol": conflicting duplicate paths "app.yaml"');
  });
});

describe("persistentVolumeClaim", () => {
  it("is a directory per namespace and claim, created once and kept with its data", async () => {
    const volume = await prepareOne({ persistentVolumeClaim: { claimName: "data-web-0" } });
    expect(volume).toEqual({ name: "vol", hostPath: join(claimsDir, "shop", "data-web-0"), readOnly: false, kind: "persistentVolumeClaim" });
    await writeFile(join(volume.hostPath, "rows"), "1");
    await prepareOne({ persistentVolumeClaim: { claimName: "data-web-0" } });
    expect(await readFile(join(volume.hostPath, "rows"), "utf8")).toBe("1");
  });

  it("is read-only when the claim reference says so", async () => {
    expect((await prepareOne({ persistentVolumeClaim: { claimName: "data", readOnly: true } })).readOnly).toBe(true);
  });
});

describe("paths from users stay inside their volume", () => {
  it.each([
    ["a ConfigMap key", { configMap: { name: "evil" } }, "../../etc/passwd"],
    ["a Secret key", { secret: { secretName: "evil" } }, "../../etc/passwd"],
    ["a projected key", { projected: { sources: [{ configMap: { name: "evil" } }] } }, "../../etc/passwd"],
  ])("refuses %s that climbs out, and writes nothing outside", async (_, volume, key) => {
    const error = await configError(
      prepareOne(volume, { configMaps: { evil: { [key]: "pwned" } }, secrets: { evil: { [key]: base64("pwned") } } }),
    );
    expect(error.message).toBe(`volume "vol": path "${key}" is outside the volume directory`);
    expect(await listFiles(root)).toEqual([]);
  });

  it.each(["../escape", "a/../../escape", "/etc/passwd", ".", "a/.."])("refuses the item path %j", async (path) => {
    const pod = podWith([{ name: "vol", configMap: { name: "web-config", items: [{ key: "app.yaml", path: "placeholder" }] } }]);
    // The manifest schema already refuses these; the agent checks again, since the pod reached it over the wire.
    pod.spec.volumes![0]!.configMap!.items![0]!.path = path;
    const error = await configError(prepare(pod));
    expect(error.message).toBe(`volume "vol": path "${path}" is outside the volume directory`);
  });

  it("refuses an item path that needs another item's file to be a directory", async () => {
    const error = await configError(
      prepareOne({ configMap: { name: "web-config", items: [{ key: "app.yaml", path: "conf" }, { key: "log.level", path: "conf/level" }] } }),
    );
    expect(error.message).toBe('volume "vol": path "conf/level" needs "conf" to be a directory, but it is a file');
  });
});

describe("preparing again", () => {
  const volumes = [
    { name: "config", configMap: { name: "web-config" } },
    { name: "creds", secret: { secretName: "web-secrets" } },
  ];

  it("is idempotent: unchanged files are left alone and no temporary files remain", async () => {
    const pod = podWith(volumes);
    await prepare(pod);
    const path = join(podDir, "volumes", "config", "app.yaml");
    const before = await stat(path);
    await prepare(pod);
    const after = await stat(path);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(await listFiles(join(podDir, "volumes"))).toEqual(["config/app.yaml", "config/log.level"]);
    expect(await listFiles(secretDir)).toEqual(["creds/api-token", "creds/key.bin"]);
  });

  it("replaces changed files atomically (a reader that opened the old file keeps reading it whole) and removes keys that are gone", async () => {
    await prepare(podWith(volumes));
    const path = join(podDir, "volumes", "config", "app.yaml");
    const reader = await open(path, "r");
    try {
      await prepare(
        podWith(volumes, {
          configMaps: { "web-config": { "app.yaml": "port: 9090\n" } },
          secrets: { "web-secrets": { "api-token": base64("rotated") } },
        }),
      );
      expect((await reader.readFile()).toString()).toBe("port: 8080\n");
    } finally {
      await reader.close();
    }
    expect(await readFile(path, "utf8")).toBe("port: 9090\n");
    expect(await listFiles(join(podDir, "volumes", "config"))).toEqual(["app.yaml"]);
    expect(await listFiles(join(secretDir, "creds"))).toEqual(["api-token"]);
    expect(await readFile(join(secretDir, "creds", "api-token"), "utf8")).toBe("rotated");
    expect(await modeOf(join(secretDir, "creds", "api-token"))).toBe(0o600);
  });

  it("replaces whatever stands where a file or directory must be, symlinks included", async () => {
    await prepare(podWith(volumes));
    const config = join(podDir, "volumes", "config");
    await rm(join(config, "app.yaml"));
    await symlink("/etc/hostname", join(config, "app.yaml"));
    await rm(join(config, "log.level"));
    await mkdir(join(config, "log.level"));
    await writeFile(join(config, "stray"), "x");
    await prepare(podWith(volumes));
    expect((await stat(join(config, "app.yaml"))).isFile()).toBe(true);
    expect(await readFile(join(config, "app.yaml"), "utf8")).toBe("port: 8080\n");
    expect(await readFile(join(config, "log.level"), "utf8")).toBe("debug");
    expect(await listFiles(config)).toEqual(["app.yaml", "log.level"]);
  });
});

describe("containerMounts", () => {
  async function mountsOf(volumes: unknown[], volumeMounts: unknown[]) {
    const pod = podWith(volumes, {}, volumeMounts);
    return containerMounts(pod.spec.containers[0]!, await prepare(pod));
  }

  it("mounts each volume at its path, honouring readOnly, with configMap, secret and projected always read-only", async () => {
    const mounts = await mountsOf(
      [
        { name: "cache", emptyDir: {} },
        { name: "logs", emptyDir: {} },
        { name: "config", configMap: { name: "web-config" } },
        { name: "creds", secret: { secretName: "web-secrets" } },
        { name: "meta", projected: { sources: [{ downwardAPI: { items: [{ path: "name", fieldRef: { fieldPath: "metadata.name" } }] } }] } },
      ],
      [
        { name: "cache", mountPath: "/cache" },
        { name: "logs", mountPath: "/logs", readOnly: true },
        { name: "config", mountPath: "/etc/app", readOnly: false },
        { name: "creds", mountPath: "/run/secrets" },
        { name: "meta", mountPath: "/etc/podinfo" },
      ],
    );
    expect(mounts).toEqual([
      { hostPath: join(podDir, "volumes", "cache"), containerPath: "/cache", readOnly: false },
      { hostPath: join(podDir, "volumes", "logs"), containerPath: "/logs", readOnly: true },
      { hostPath: join(podDir, "volumes", "config"), containerPath: "/etc/app", readOnly: true },
      { hostPath: join(secretDir, "creds"), containerPath: "/run/secrets", readOnly: true },
      { hostPath: join(podDir, "volumes", "meta"), containerPath: "/etc/podinfo", readOnly: true },
    ]);
  });

  it("mounts a subPath: an existing file, and a missing directory of a writable volume, which it creates", async () => {
    const mounts = await mountsOf(
      [
        { name: "config", configMap: { name: "web-config" } },
        { name: "data", emptyDir: {} },
      ],
      [
        { name: "config", mountPath: "/etc/app.yaml", subPath: "app.yaml" },
        { name: "data", mountPath: "/var/lib/app", subPath: "app/db" },
      ],
    );
    expect(mounts[0]).toEqual({ hostPath: join(podDir, "volumes", "config", "app.yaml"), containerPath: "/etc/app.yaml", readOnly: true });
    expect(mounts[1]!.hostPath).toBe(join(podDir, "volumes", "data", "app", "db"));
    expect((await stat(mounts[1]!.hostPath)).isDirectory()).toBe(true);
  });

  it("refuses a subPath missing from a read-only volume", async () => {
    const error = await configError(
      mountsOf([{ name: "config", configMap: { name: "web-config" } }], [{ name: "config", mountPath: "/x", subPath: "nope" }]),
    );
    expect(error.message).toBe('subPath "nope" does not exist in volume "config"');
  });

  it("refuses a subPath that leads out of the volume through a symlink a process planted", async () => {
    const pod = podWith([{ name: "data", emptyDir: {} }], {}, [{ name: "data", mountPath: "/data", subPath: "planted/inner" }]);
    const volumes = await prepare(pod);
    const outside = join(root, "outside");
    await mkdir(join(outside, "inner"), { recursive: true });
    await symlink(outside, join(podDir, "volumes", "data", "planted"));
    expect(() => containerMounts(pod.spec.containers[0]!, volumes)).toThrow(
      new PodConfigError("CreateContainerConfigError", 'subPath "planted/inner" of volume "data" is outside the volume'),
    );
    // A missing part behind the symlink is not created outside either.
    pod.spec.containers[0]!.volumeMounts![0]!.subPath = "planted/new";
    expect(() => containerMounts(pod.spec.containers[0]!, volumes)).toThrow(PodConfigError);
    await expect(stat(join(outside, "new"))).rejects.toThrow("ENOENT");
  });

  it("refuses a subPath that climbs out with '..', and a volume the pod does not have", async () => {
    const pod = podWith([{ name: "data", emptyDir: {} }], {}, [{ name: "data", mountPath: "/data", subPath: "x" }]);
    const volumes = await prepare(pod);
    const container = pod.spec.containers[0]!;
    container.volumeMounts![0]!.subPath = "../../..";
    expect(() => containerMounts(container, volumes)).toThrow('subPath "../../.." of volume "data" is outside the volume');
    container.volumeMounts![0]!.name = "other";
    expect(() => containerMounts(container, volumes)).toThrow('volume "other" of container "app" is not a volume of the pod');
  });
});

describe("removePodVolumes", () => {
  it("removes emptyDir, configMap, secret and projected data, and leaves hostPath and claim directories with their contents", async () => {
    const hostDir = join(root, "host", "shared");
    const pod = podWith([
      { name: "cache", emptyDir: {} },
      { name: "memory", emptyDir: { medium: "Memory" } },
      { name: "config", configMap: { name: "web-config" } },
      { name: "creds", secret: { secretName: "web-secrets" } },
      { name: "meta", projected: { sources: [{ secret: { name: "web-secrets" } }] } },
      { name: "host", hostPath: { path: hostDir, type: "DirectoryOrCreate" } },
      { name: "data", persistentVolumeClaim: { claimName: "data-web-0" } },
    ]);
    const volumes = await prepare(pod);
    await writeFile(join(hostDir, "kept"), "host");
    await writeFile(join(volumes.get("data")!.hostPath, "kept"), "claim");
    await writeFile(join(volumes.get("cache")!.hostPath, "gone"), "scratch");

    await removePodVolumes({ podDir, secretDir });

    await expect(stat(join(podDir, "volumes"))).rejects.toThrow("ENOENT");
    await expect(stat(secretDir)).rejects.toThrow("ENOENT");
    expect(await readFile(join(hostDir, "kept"), "utf8")).toBe("host");
    expect(await readFile(join(claimsDir, "shop", "data-web-0", "kept"), "utf8")).toBe("claim");
    await removePodVolumes({ podDir, secretDir }); // idempotent
  });
});
