import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cgroupPids, listPids } from "../../../src/nodes/agent/proc.ts";
import {
  ContainerStartError,
  createDockerRuntime,
  detectRuntimes,
  dockerContainerName,
  type ContainerHandle,
  type LaunchSpec,
} from "../../../src/nodes/agent/runtime/index.ts";
import { ensureTestImage, removeLabelledContainers } from "../../helpers/docker.ts";

const run = promisify(execFile);
const runtime = createDockerRuntime({ cli: "docker" });
let image: string;
let dir: string;
let agentId: string;
const agentIds: string[] = [];
const handles: ContainerHandle[] = [];

beforeAll(async () => {
  image = await ensureTestImage();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "capstan-docker-runtime-"));
  agentId = newAgentId();
});

afterEach(async () => {
  for (const id of agentIds.splice(0)) await removeLabelledContainers("capstan.agent", id);
  // The handles see their containers go; wait so no watcher outlives the test.
  await Promise.all(handles.splice(0).map((handle) => handle.exited));
  await rm(dir, { recursive: true, force: true });
});

function newAgentId(): string {
  const id = `test-agent-${randomUUID()}`;
  agentIds.push(id);
  return id;
}

function spec(argv: string[], overrides: Partial<LaunchSpec> = {}): LaunchSpec {
  const podUid = randomUUID();
  return {
    id: `${podUid}.app`,
    agentId,
    podUid,
    namespace: "default",
    podName: "web",
    containerName: "app",
    image,
    argv,
    env: {},
    mounts: [],
    ports: [],
    logPath: join(dir, "logs", "app.log"),
    ...overrides,
  };
}

async function start(launch: LaunchSpec, using = runtime): Promise<ContainerHandle> {
  const handle = await using.start(launch);
  handles.push(handle);
  return handle;
}

async function waitFor(accept: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accept())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function logOf(launch: LaunchSpec): Promise<string> {
  return readFile(launch.logPath, "utf8").catch(() => "");
}

async function containerExists(name: string): Promise<boolean> {
  return run("docker", ["inspect", "--type", "container", name]).then(
    () => true,
    () => false,
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

/** Every command line on the host while `during` runs, sampled as fast as /proc can be read. */
async function commandLinesDuring<T>(during: Promise<T>): Promise<{ result: T; seen: string[] }> {
  const seen = new Set<string>();
  let done = false;
  const settled = during.finally(() => (done = true));
  while (!done) {
    for (const pid of await listPids()) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmdline) seen.add(cmdline.split("\0").join(" "));
    }
  }
  return { result: await settled, seen: [...seen] };
}

describe("docker runtime", () => {
  it("is detected when the daemon answers", async () => {
    const runtimes = await detectRuntimes();
    expect(runtimes[0]).toBe("process");
    expect(runtimes).toContain("docker");
  });

  it("names containers after the capstan id, in the characters docker allows", () => {
    expect(dockerContainerName("0b6a-41f2.web")).toBe("capstan-0b6a-41f2.web");
    expect(dockerContainerName("uid/with spaces:and+more.app")).toBe("capstan-uid_with_spaces_and_more.app");
  });

  it("passes env values through the CLI's environment, never its argv, and copies output to the log file", async () => {
    const secret = `s3cret-${randomUUID()}`;
    const launch = spec(["sh", "-c", 'echo "secret=$API_TOKEN"; echo "to stderr" >&2; echo "dir=$(pwd)"; sleep 1000'], {
      // DOCKER_TOKEN is a name the CLI itself reads: it goes through a private env file instead.
      env: { API_TOKEN: secret, EMPTY: "", DOCKER_TOKEN: `${secret}-cli` },
      workingDir: "/tmp",
    });
    const { result: handle, seen } = await commandLinesDuring(start(launch));
    // The sampling did see the CLI start the container, and never the value.
    expect(seen.some((line) => line.includes(`capstan.container=${launch.id}`) && line.includes(" run "))).toBe(true);
    expect(seen.filter((line) => line.includes(secret))).toEqual([]);
    expect(seen.some((line) => line.includes("-e API_TOKEN "))).toBe(true);

    expect(handle.record).toMatchObject({ runtime: "docker", id: launch.id, containerId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(handle.record.pid).toBeGreaterThan(0);
    await waitFor(async () => (await logOf(launch)).includes("dir=/tmp"), "the output in the log file");
    const log = await logOf(launch);
    expect(log).toContain(`secret=${secret}\n`);
    expect(log).toContain("to stderr\n");
    const { stdout } = await run("docker", ["inspect", "--format", "{{json .Config.Env}}", dockerContainerName(launch.id)]);
    expect(JSON.parse(stdout)).toEqual(expect.arrayContaining([`API_TOKEN=${secret}`, "EMPTY=", `DOCKER_TOKEN=${secret}-cli`]));
    // The env file is gone once the container runs.
    expect((await readdir(dirname(launch.logPath))).filter((file) => file.startsWith(".env-"))).toEqual([]);
  });

  it("adds the pod's hostAliases to the container's own /etc/hosts", async () => {
    const launch = spec(["sh", "-c", "cat /etc/hosts; sleep 1000"], {
      hostsFile: join(dir, "etc-hosts"),
      hostAliases: [{ ip: "10.0.0.5", hostnames: ["db.internal", "db"] }],
    });
    await start(launch);
    await waitFor(async () => (await logOf(launch)).includes("db.internal"), "the hosts file in the log");
    expect(await logOf(launch)).toMatch(/^10\.0\.0\.5\s+db\.internal$/m);
    expect(await logOf(launch)).toMatch(/^10\.0\.0\.5\s+db$/m);
  });

  it("publishes a port on the host", async () => {
    const hostPort = await freePort();
    const launch = spec(["sh", "-c", "echo hello from httpd > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"], {
      ports: [{ name: "http", containerPort: 8080, hostPort, protocol: "TCP" }],
    });
    await start(launch);
    let body = "";
    await waitFor(async () => {
      body = await fetch(`http://127.0.0.1:${hostPort}/index.html`).then(
        (response) => (response.ok ? response.text() : ""),
        () => "",
      );
      return body !== "";
    }, "httpd to answer");
    expect(body).toBe("hello from httpd\n");
  });

  it("reports the exit code and removes the ended container", async () => {
    const launch = spec(["sh", "-c", "echo bye; exit 3"]);
    const handle = await start(launch);
    expect(await handle.exited).toMatchObject({ exitCode: 3, reason: "Error" });
    expect(await containerExists(dockerContainerName(launch.id))).toBe(false);
    expect(await logOf(launch)).toBe("bye\n");
    expect(await handle.usage()).toBeUndefined();
  });

  it("stops within the grace: at once for a process that honours SIGTERM, by SIGKILL after it otherwise", async () => {
    // PID 1 of a container ignores a signal it has no handler for, as in Kubernetes: this one has one.
    const politeSpec = spec(["sh", "-c", "trap 'echo terminated; exit 0' TERM; echo ready; sleep 1000 & wait"]);
    const polite = await start(politeSpec);
    await waitFor(async () => (await logOf(politeSpec)).includes("ready"), "the trap to be set");
    let began = Date.now();
    expect(await polite.stop(10_000)).toMatchObject({ exitCode: 0, reason: "Completed" });
    expect(await logOf(politeSpec)).toBe("ready\nterminated\n");
    expect(Date.now() - began).toBeLessThan(5_000);

    const stubbornSpec = spec(["sh", "-c", "trap '' TERM; echo ready; sleep 1000"]);
    const stubborn = await start(stubbornSpec);
    await waitFor(async () => (await logOf(stubbornSpec)).includes("ready"), "the trap to be set");
    began = Date.now();
    const stopping = stubborn.stop(1_000);
    expect(stubborn.stop(1_000)).toBe(stopping);
    expect(await stopping).toMatchObject({ exitCode: 137, reason: "Error" });
    const elapsed = Date.now() - began;
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(6_000);
  });

  it("refuses an image that is not present, without pulling", async () => {
    const missing = start(spec(["true"], { image: "capstan-test/not-there:1" }));
    await expect(missing).rejects.toBeInstanceOf(ContainerStartError);
    await expect(missing).rejects.toMatchObject({ reason: "ErrImageNeverPull", message: 'Container image "capstan-test/not-there:1" is not present with pull policy of Never' });
    await expect(start(spec(["true"], { image: "Not A Valid Name" }))).rejects.toMatchObject({ reason: "InvalidImageName" });
  });

  it("refuses a command the image does not have", async () => {
    const launch = spec(["no-such-command"]);
    await expect(start(launch)).rejects.toMatchObject({ reason: "RunContainerError", message: expect.stringContaining('exec: "no-such-command"') });
    expect(await containerExists(dockerContainerName(launch.id))).toBe(false);
  });

  it("binds mounts, read-only when asked, and runs exec inside the container", async () => {
    const hostDir = join(dir, "data");
    await mkdir(hostDir);
    await writeFile(join(hostDir, "greeting.txt"), "hello from the host\n");
    const launch = spec(["sleep", "1000"], {
      env: { PROBE: "probe-value" },
      mounts: [{ hostPath: hostDir, containerPath: "/data", readOnly: true }],
    });
    const handle = await start(launch);
    expect(await handle.exec(["sh", "-c", 'cat /data/greeting.txt; echo "$PROBE"; exit 4'], 10_000)).toEqual({
      exitCode: 4,
      output: "hello from the host\nprobe-value\n",
      timedOut: false,
    });
    const write = await handle.exec(["sh", "-c", "echo x > /data/new.txt"], 10_000);
    expect(write.exitCode).not.toBe(0);
    expect(write.output).toContain("Read-only file system");
    expect(await handle.exec(["sleep", "1000"], 500)).toMatchObject({ timedOut: true, exitCode: null });
  });

  it("reports the usage of the container's processes", async () => {
    const handle = await start(spec(["sh", "-c", "sleep 1000 & sleep 1000 & wait"]));
    // The container's cgroup holds the shell and both sleeps.
    await waitFor(async () => (await cgroupPids(handle.record.pid!))?.length === 3, "three processes in the container's cgroup");
    const usage = await handle.usage();
    expect(usage?.rssBytes).toBeGreaterThan(0);
    expect(usage?.cpuMillis).toBe(0);
  });

  it("adopts from a new runtime instance without copying the output twice", async () => {
    const launch = spec(["sh", "-c", "trap 'exit 0' TERM; echo first; sleep 1000 & wait"]);
    const original = await start(launch);
    await waitFor(async () => (await logOf(launch)) === "first\n", "the first line");
    const restarted = createDockerRuntime({ cli: "docker" });
    const adopted = await restarted.adopt(original.record, launch);
    expect(adopted).not.toBeNull();
    handles.push(adopted!);
    expect(adopted!.record).toEqual(original.record);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await adopted!.stop(5_000)).toMatchObject({ exitCode: 0 });
    expect(await original.exited).toMatchObject({ exitCode: 0 });
    expect(await logOf(launch)).toBe("first\n");

    expect(await restarted.adopt(original.record, launch)).toBeNull();
    expect(await restarted.adopt({ ...original.record, containerId: "0".repeat(64) }, launch)).toBeNull();
  });

  it("lists the containers of one agent id by label, and kills them", async () => {
    const mine = await start(spec(["sleep", "1000"]));
    const theirs = await start(spec(["sleep", "1000"], { agentId: newAgentId() }));
    const listed = await runtime.list(agentId);
    expect(listed).toEqual([
      { runtime: "docker", id: mine.record.id, pid: mine.record.pid, containerId: mine.record.containerId, startedAt: expect.any(String) },
    ]);
    expect(listed.map((record) => record.id)).not.toContain(theirs.record.id);
    await runtime.kill(listed[0]!);
    expect(await mine.exited).toMatchObject({ exitCode: 137 });
    expect(await runtime.list(agentId)).toEqual([]);
  });
});
