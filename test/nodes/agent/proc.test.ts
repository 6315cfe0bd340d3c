import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bootId, groupUsage, isAlive, listPids, nodeCapacity, parseProcStat, readProcStat, readStartTicks } from "../../../src/nodes/agent/proc.ts";

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const ended = new Promise((resolve) => child.once("exit", resolve));
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      await ended;
    }
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function start(file: string, args: string[]): ChildProcess & { pid: number } {
  const child = spawn(file, args, { detached: true, stdio: "ignore" });
  children.push(child);
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  return child as ChildProcess & { pid: number };
}

async function waitFor<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("parseProcStat", () => {
  it("splits after the last ')' so a comm with spaces and parentheses does not shift the fields", () => {
    const fields = ["S", "1", "4242", "4242", "0", "-1", "4194304", "0", "0", "0", "0", "7", "5", "0", "0", "20", "0", "1", "0", "987654"];
    const stat = parseProcStat(`4242 (evil) (name ) x) ${fields.join(" ")} 1234 56 rest`);
    expect(stat).toEqual({ pid: 4242, comm: "evil) (name ) x", state: "S", ppid: 1, pgrp: 4242, cpuTicks: 12, startTicks: "987654" });
  });

  it("refuses a line that is not a stat line", () => {
    expect(parseProcStat("garbage")).toBeUndefined();
    expect(parseProcStat("12 (short) S 1")).toBeUndefined();
  });
});

describe("start ticks and liveness", () => {
  it("reads a real process whose name has spaces and parentheses", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capstan-proc-"));
    dirs.push(dir);
    const oddName = join(dir, "a) b (c");
    await copyFile("/bin/sleep", oddName);
    const child = start(oddName, ["1000"]);
    const stat = await waitFor(() => readProcStat(child.pid), (value) => value?.comm === "a) b (c");
    expect(stat).toMatchObject({ pid: child.pid, ppid: process.pid, pgrp: child.pid });
    const startTicks = await readStartTicks(child.pid);
    expect(startTicks).toMatch(/^\d+$/);
    expect(startTicks).toBe(stat?.startTicks);

    expect(await isAlive(child.pid, startTicks!)).toBe(true);
    expect(await isAlive(child.pid, String(Number(startTicks) + 1))).toBe(false);
    const ended = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await ended;
    expect(await isAlive(child.pid, startTicks!)).toBe(false);
    expect(await readStartTicks(child.pid)).toBeUndefined();
  });

  it("does not count a zombie as alive", async () => {
    // sh starts a child that exits at once and is not reaped while sh execs into sleep.
    const parent = start("/bin/sh", ["-c", "/bin/true & exec sleep 1000"]);
    const zombie = await waitFor(
      async () => {
        for (const pid of await listPids()) {
          const stat = await readProcStat(pid);
          if (stat?.ppid === parent.pid && stat.state === "Z") return stat;
        }
        return undefined;
      },
      (value) => value !== undefined,
    );
    expect(await isAlive(zombie!.pid, zombie!.startTicks)).toBe(false);
  });
});

describe("groupUsage", () => {
  it("sums CPU and RSS over every process of the group", async () => {
    const leader = start("/bin/sh", ["-c", "while :; do :; done & sleep 1000 & wait"]);
    const first = await waitFor(() => groupUsage(leader.pid), (reading) => reading.processCount === 3);
    expect(first.usage.rssBytes).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const second = await groupUsage(leader.pid, first.sample);
    // One busy loop is ~1000 millicores; leave room for two shared cores under load.
    expect(second.usage.cpuMillis).toBeGreaterThan(200);
    expect(second.usage.cpuMillis).toBeLessThan(2_500);
    expect(second.sample.ticks).toBeGreaterThan(first.sample.ticks);
  });

  it("reads a first sample as each process's average since it started, not as idle", async () => {
    const leader = start("/bin/sh", ["-c", "while :; do :; done & sleep 1000 & wait"]);
    await waitFor(() => groupUsage(leader.pid), (reading) => reading.processCount === 3);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const first = await groupUsage(leader.pid);
    // The busy loop has averaged ~1000 millicores since it started; the sleepers ~0.
    expect(first.usage.cpuMillis).toBeGreaterThan(200);
    expect(first.usage.cpuMillis).toBeLessThan(2_500);
  });

  it("finds nothing for a group that does not exist", async () => {
    const reading = await groupUsage(2 ** 22 + 1);
    expect(reading.processCount).toBe(0);
    expect(reading.usage).toEqual({ cpuMillis: 0, rssBytes: 0 });
  });
});

describe("host readings", () => {
  it("reads the boot id and the capacity", async () => {
    expect(await bootId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const capacity = await nodeCapacity();
    expect(capacity.cpuMillis).toBe(availableParallelism() * 1000);
    expect(capacity.memoryBytes).toBeGreaterThan(64 * 1024 * 1024);
  });
});
