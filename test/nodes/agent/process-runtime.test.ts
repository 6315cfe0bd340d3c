import { randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/logging.ts";
import { listPids, readProcStat } from "../../../src/nodes/agent/proc.ts";
import { ContainerStartError, createProcessRuntime, type ContainerHandle, type LaunchSpec } from "../../../src/nodes/agent/runtime/index.ts";

let dir: string;
let agentId: string;
const handles: ContainerHandle[] = [];
const agentIds: string[] = [];
const runtime = createProcessRuntime({ stopPollMs: 50 });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "capstan-process-runtime-"));
  agentId = newAgentId();
});

afterEach(async () => {
  // Every process this test started, whether or not it got a handle.
  for (const id of agentIds.splice(0)) {
    for (const record of await runtime.list(id)) await runtime.kill(record);
  }
  await Promise.all(handles.splice(0).map((handle) => handle.stop(0)));
  await rm(dir, { recursive: true, force: true });
});

function newAgentId(): string {
  const id = `test-agent-${randomUUID()}`;
  agentIds.push(id);
  return id;
}

function spec(argv: string[], overrides: Partial<LaunchSpec> = {}): LaunchSpec {
  const containerName = overrides.containerName ?? "app";
  const podUid = randomUUID();
  return {
    id: `${podUid}.${containerName}`,
    agentId,
    podUid,
    namespace: "default",
    podName: "web",
    containerName,
    argv,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    workingDir: dir,
    mounts: [],
    ports: [],
    logPath: join(dir, "logs", `${containerName}.log`),
    ...overrides,
  };
}

async function start(launch: LaunchSpec, using = runtime): Promise<ContainerHandle> {
  const handle = await using.start(launch);
  handles.push(handle);
  return handle;
}

async function waitFor(accept: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accept())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function logOf(launch: LaunchSpec): Promise<string> {
  return readFile(launch.logPath, "utf8").catch(() => "");
}

/** Live members of a process group (a zombie is dead: it waits for pid 1 to reap it). */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const pid of await listPids()) {
    const stat = await readProcStat(pid);
    if (stat?.pgrp === pgid && stat.state !== "Z") members.push(pid);
  }
  return members;
}

describe("starting", () => {
  it("passes env and working directory, and sends stdout and stderr to the log file", async () => {
    const work = join(dir, "work");
    await mkdir(work);
    const launch = spec(["sh", "-c", 'echo "$GREETING from $(pwd)"; echo "to stderr" >&2'], {
      env: { PATH: process.env.PATH!, GREETING: "hello" },
      workingDir: work,
    });
    const handle = await start(launch);
    expect(handle.record).toMatchObject({ runtime: "process", id: launch.id });
    expect(handle.record.startTicks).toMatch(/^\d+$/);
    const exit = await handle.exited;
    expect(exit).toMatchObject({ exitCode: 0, reason: "Completed" });
    expect(await logOf(launch)).toBe(`hello from ${work}\nto stderr\n`);
  });

  it("logs the command it starts, never the arguments, which may hold $(VAR)-expanded Secret values", async () => {
    let logged = "";
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    });
    const debugRuntime = createProcessRuntime({ stopPollMs: 50, log: createLogger({ level: "debug", destination }) });
    const secret = `s3cret-${randomUUID()}`;
    const handle = await start(spec(["sh", "-c", "exit 0", `--password=${secret}`]), debugRuntime);
    await handle.exited;
    expect(logged).toContain("started a process container");
    expect(logged).toContain('"command":"sh"');
    expect(logged).not.toContain(secret);
  });

  it("gives the process only the spec's environment plus its markers", async () => {
    const launch = spec(["env"]);
    const handle = await start(launch);
    await handle.exited;
    const environment = (await logOf(launch)).split("\n").filter(Boolean).sort();
    expect(environment).toEqual([`CAPSTAN_AGENT_ID=${agentId}`, `CAPSTAN_CONTAINER_ID=${launch.id}`, `PATH=${process.env.PATH}`].sort());
  });

  it("appends to an existing log file", async () => {
    const launch = spec(["echo", "second"]);
    await mkdir(join(dir, "logs"));
    await writeFile(launch.logPath, "first\n");
    await (await start(launch)).exited;
    expect(await logOf(launch)).toBe("first\nsecond\n");
  });

  it("resolves a relative command against the working directory", async () => {
    await writeFile(join(dir, "hello.sh"), "#!/bin/sh\necho relative works\n");
    await chmod(join(dir, "hello.sh"), 0o755);
    const launch = spec(["./hello.sh"]);
    expect(await (await start(launch)).exited).toMatchObject({ exitCode: 0 });
    expect(await logOf(launch)).toBe("relative works\n");
  });

  it("refuses a command that does not exist, as Kubernetes words it", async () => {
    const missing = start(spec(["no-such-command-capstan"]));
    await expect(missing).rejects.toBeInstanceOf(ContainerStartError);
    await expect(missing).rejects.toMatchObject({
      reason: "RunContainerError",
      message: 'exec: "no-such-command-capstan": executable file not found in $PATH',
    });
    await expect(start(spec(["./missing.sh"]))).rejects.toMatchObject({
      reason: "RunContainerError",
      message: `exec: "./missing.sh": stat ${dir}/missing.sh: no such file or directory`,
    });
    await writeFile(join(dir, "not-executable"), "data");
    await expect(start(spec([join(dir, "not-executable")]))).rejects.toMatchObject({ reason: "RunContainerError", message: expect.stringContaining("permission denied") });
    // PATH comes from the container's environment, not the agent's.
    await expect(start(spec(["sh", "-c", "true"], { env: { PATH: dir } }))).rejects.toMatchObject({ reason: "RunContainerError" });
  });

  it("refuses a missing working directory and an empty command", async () => {
    await expect(start(spec(["true"], { workingDir: join(dir, "nowhere") }))).rejects.toMatchObject({
      reason: "CreateContainerError",
      message: expect.stringContaining(join(dir, "nowhere")),
    });
    await expect(start(spec([]))).rejects.toMatchObject({ reason: "CreateContainerError" });
  });
});

describe("exits", () => {
  it("reports an exit code", async () => {
    expect(await (await start(spec(["sh", "-c", "exit 3"]))).exited).toMatchObject({ exitCode: 3, reason: "Error" });
  });

  it("reports a signal", async () => {
    const exit = await (await start(spec(["sh", "-c", "kill -KILL $$"]))).exited;
    expect(exit).toMatchObject({ exitCode: null, signal: "SIGKILL", reason: "Error" });
    expect(exit.finishedAt).toBeInstanceOf(Date);
  });

  it("ends the rest of the group when the main process exits", async () => {
    const launch = spec(["sh", "-c", "sleep 1000 & echo $! > background.pid"]);
    const handle = await start(launch);
    await handle.exited;
    const background = Number(await readFile(join(dir, "background.pid"), "utf8"));
    await waitFor(async () => [undefined, "Z"].includes((await readProcStat(background))?.state), "the background sleep to be gone");
    expect(await groupMembers(handle.record.pid!)).toEqual([]);
  });
});

describe("stop", () => {
  it("SIGKILLs a process that ignores SIGTERM once the grace is over", async () => {
    const launch = spec(["sh", "-c", "trap '' TERM; echo ready; exec sleep 1000"]);
    const handle = await start(launch);
    await waitFor(async () => (await logOf(launch)) === "ready\n", "the trap to be set");
    const began = Date.now();
    const stopping = handle.stop(1_000);
    expect(handle.stop(1_000)).toBe(stopping);
    const exit = await stopping;
    const elapsed = Date.now() - began;
    expect(exit).toMatchObject({ exitCode: null, signal: "SIGKILL" });
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(3_000);
  });

  it("ends a process that honours SIGTERM at once", async () => {
    const handle = await start(spec(["sleep", "1000"]));
    const began = Date.now();
    expect(await handle.stop(10_000)).toMatchObject({ signal: "SIGTERM" });
    expect(Date.now() - began).toBeLessThan(2_000);
    // After the end, stop answers with the same exit.
    expect(await handle.stop(10_000)).toMatchObject({ signal: "SIGTERM" });
  });

  it("kills grandchildren in the group", async () => {
    const handle = await start(spec(["sh", "-c", "sleep 1000 & sleep 1000"]));
    const pgid = handle.record.pid!;
    await waitFor(async () => (await groupMembers(pgid)).length === 3, "the shell and both sleeps");
    await handle.stop(5_000);
    await waitFor(async () => (await groupMembers(pgid)).length === 0, "the whole group to be gone");
  });
});

describe("adopt", () => {
  it("re-attaches from another runtime instance and sees the exit it did not cause", async () => {
    const launch = spec(["sleep", "1000"]);
    const original = await start(launch);
    const restarted = createProcessRuntime({ stopPollMs: 50 });
    const adopted = await restarted.adopt(original.record, launch);
    expect(adopted).not.toBeNull();
    handles.push(adopted!);
    expect(adopted!.record).toEqual(original.record);
    expect((await adopted!.usage())?.rssBytes).toBeGreaterThan(0);
    process.kill(original.record.pid!, "SIGKILL");
    expect(await adopted!.exited).toMatchObject({ exitCode: null, reason: "Unknown" });
    expect(await original.exited).toMatchObject({ signal: "SIGKILL" });
  });

  it("stops an adopted process through its group", async () => {
    const launch = spec(["sh", "-c", "sleep 1000 & sleep 1000"]);
    const original = await start(launch);
    const pgid = original.record.pid!;
    await waitFor(async () => (await groupMembers(pgid)).length === 3, "the shell and both sleeps");
    const adopted = await createProcessRuntime({ stopPollMs: 50 }).adopt(original.record, launch);
    expect(await adopted!.stop(5_000)).toMatchObject({ reason: "Unknown" });
    await waitFor(async () => (await groupMembers(pgid)).length === 0, "the whole group to be gone");
  });

  it("refuses a record whose pid is now another process, or gone", async () => {
    const launch = spec(["sleep", "1000"]);
    const handle = await start(launch);
    const other = createProcessRuntime();
    expect(await other.adopt({ ...handle.record, startTicks: String(Number(handle.record.startTicks) + 1) }, launch)).toBeNull();
    expect(await other.adopt({ ...handle.record, id: "another-pod.app" }, launch)).toBeNull();
    expect(await other.adopt({ ...handle.record, startTicks: undefined }, launch)).toBeNull();
    await handle.stop(0);
    expect(await other.adopt(handle.record, launch)).toBeNull();
  });
});

describe("list and kill", () => {
  it("finds the group leaders of one agent id, not another's", async () => {
    const mine = await start(spec(["sleep", "1000"]));
    const theirs = await start(spec(["sleep", "1000"], { agentId: newAgentId() }));
    const listed = await runtime.list(agentId);
    expect(listed).toEqual([
      { runtime: "process", id: mine.record.id, pid: mine.record.pid, startTicks: mine.record.startTicks, startedAt: expect.any(String) },
    ]);
    expect(Math.abs(Date.parse(listed[0]!.startedAt) - Date.parse(mine.record.startedAt))).toBeLessThan(2_000);
    expect(listed.map((record) => record.pid)).not.toContain(theirs.record.pid);

    await runtime.kill(listed[0]!);
    expect(await mine.exited).toMatchObject({ signal: "SIGKILL" });
    expect(await runtime.list(agentId)).toEqual([]);
  });
});

describe("mounts", () => {
  const isRoot = process.getuid?.() === 0;

  it(isRoot ? "bind-mounts a host directory at another path, read-only when asked" : "refuses a moved mount without root", async () => {
    const hostDir = join(dir, "host-data");
    await mkdir(hostDir);
    await writeFile(join(hostDir, "greeting.txt"), "hello from the host\n");
    const containerPath = join(dir, "container-data");
    const writable = spec(["sh", "-c", `cat ${containerPath}/greeting.txt && echo written > ${containerPath}/new.txt && echo wrote`], {
      mounts: [{ hostPath: hostDir, containerPath, readOnly: false }],
    });
    if (!isRoot) {
      await expect(start(writable)).rejects.toMatchObject({ reason: "CreateContainerError", message: expect.stringContaining("needs root") });
      return;
    }
    expect(await (await start(writable)).exited).toMatchObject({ exitCode: 0 });
    expect(await logOf(writable)).toBe("hello from the host\nwrote\n");
    expect(await readFile(join(hostDir, "new.txt"), "utf8")).toBe("written\n");
    // The mount lived in the container's own namespace: the host sees only the empty mount point.
    expect(await readdir(containerPath)).toEqual([]);

    const readOnly = spec(["sh", "-c", `cat ${containerPath}/greeting.txt; echo nope > ${containerPath}/other.txt`], {
      containerName: "readonly",
      mounts: [{ hostPath: hostDir, containerPath, readOnly: true }],
    });
    expect(await (await start(readOnly)).exited).toMatchObject({ exitCode: 2, reason: "Error" });
    expect(await logOf(readOnly)).toMatch(/^hello from the host\n.*Read-only file system/s);
    expect(await readdir(hostDir)).toEqual(["greeting.txt", "new.txt"]);
  });

  it.runIf(isRoot)("mounts a single file and lets exec see the mounts and the working directory inside them", async () => {
    const hostFile = join(dir, "config.ini");
    await writeFile(hostFile, "key=value\n");
    const hostDir = join(dir, "app");
    await mkdir(hostDir);
    await writeFile(join(hostDir, "run.sh"), "#!/bin/sh\necho running in $(pwd)\nexec sleep 1000\n");
    await chmod(join(hostDir, "run.sh"), 0o755);
    const mountedApp = join(dir, "mnt", "app");
    const mountedFile = join(dir, "mnt", "etc", "config.ini");
    const launch = spec(["./run.sh"], {
      workingDir: mountedApp,
      mounts: [
        { hostPath: hostDir, containerPath: mountedApp, readOnly: true },
        { hostPath: hostFile, containerPath: mountedFile, readOnly: true },
      ],
    });
    const handle = await start(launch);
    await waitFor(async () => (await logOf(launch)) === `running in ${mountedApp}\n`, "the script to start inside the mount");
    const result = await handle.exec(["sh", "-c", `pwd; cat ${mountedFile}; ls`], 5_000);
    expect(result).toEqual({ exitCode: 0, output: `${mountedApp}\nkey=value\nrun.sh\n`, timedOut: false });
  });
});

describe("exec, usage and reaping", () => {
  it("runs exec with the container's env and working dir, truncates output and times out", async () => {
    const launch = spec(["sleep", "1000"], { env: { PATH: process.env.PATH!, PROBE: "probe-value" } });
    const handle = await start(launch);
    expect(await handle.exec(["sh", "-c", 'echo "$PROBE in $(pwd)"; echo oops >&2; exit 4'], 5_000)).toEqual({
      exitCode: 4,
      output: `probe-value in ${dir}\noops\n`,
      timedOut: false,
    });
    const long = await handle.exec(["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done"], 10_000);
    expect(long.exitCode).toBe(0);
    expect(long.output.length).toBe(4 * 1024);

    const began = Date.now();
    const slow = await handle.exec(["sh", "-c", "echo started; sleep 1000"], 300);
    expect(slow).toMatchObject({ timedOut: true, output: "started\n" });
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(await handle.exec(["no-such-probe"], 1_000)).toMatchObject({ exitCode: 127, output: expect.stringContaining("not found in $PATH") });
  });

  it("reports RSS for a running process and nothing once it is gone", async () => {
    const handle = await start(spec(["sleep", "1000"]));
    const usage = await handle.usage();
    expect(usage?.rssBytes).toBeGreaterThan(0);
    expect(usage?.cpuMillis).toBe(0);
    await handle.stop(1_000);
    expect(await handle.usage()).toBeUndefined();
  });

  it("leaves no zombie behind after many starts, stops and execs", async () => {
    for (let round = 0; round < 15; round += 1) {
      const short = await start(spec(["sh", "-c", "sleep 0.01 & exit 1"], { containerName: `short-${round}` }));
      const long = await start(spec(["sh", "-c", "sleep 1000 & sleep 1000"], { containerName: `long-${round}` }));
      await long.exec(["true"], 1_000);
      await Promise.all([short.exited, long.stop(1_000)]);
    }
    const zombies: number[] = [];
    for (const pid of await listPids()) {
      const stat = await readProcStat(pid);
      if (stat?.ppid === process.pid && stat.state === "Z") zombies.push(pid);
    }
    expect(zombies).toEqual([]);
    expect(await runtime.list(agentId)).toEqual([]);
  });
});
