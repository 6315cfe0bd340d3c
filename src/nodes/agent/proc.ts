import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import type { ResourceUsage } from "../protocol.ts";

/**
 * Readings from /proc (Linux only): process identity, group resource usage,
 * the host's boot id and capacity. Every reading tolerates the process
 * vanishing between listing and reading: that is the normal case on a busy
 * host, not an error.
 */

/**
 * USER_HZ, the unit of utime/stime/starttime in /proc/<pid>/stat. The kernel
 * fixes it at 100 for userspace on every architecture Linux supports today,
 * and Node has no sysconf(_SC_CLK_TCK).
 */
const CLOCK_TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat the agent uses. */
export interface ProcStat {
  pid: number;
  /** Executable name (may contain spaces and parentheses). */
  comm: string;
  /** R, S, D, Z (zombie), T, t, X, I... */
  state: string;
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** User + system CPU time, in clock ticks. */
  cpuTicks: number;
  /** Field 22: start time after boot in clock ticks, kept as text (it identifies the process; no arithmetic). */
  startTicks: string;
}

/**
 * Parses one /proc/<pid>/stat line. The comm field is wrapped in parentheses
 * but may itself contain ") (": everything after the LAST ')' is the
 * space-separated rest, starting with field 3 (state).
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3; field N is rest[N - 3].
  const field = (n: number): string | undefined => rest[n - 3];
  const state = field(3);
  const startTicks = field(22);
  if (!Number.isInteger(pid) || state === undefined || startTicks === undefined) return undefined;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state,
    ppid: Number(field(4)),
    pgrp: Number(field(5)),
    cpuTicks: Number(field(14)) + Number(field(15)),
    startTicks,
  };
}

/** /proc/<pid>/stat, or undefined when the process does not exist (or is unreadable). */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * readProcStat without yielding to the event loop: right after spawn() a
 * child that already exited is still a zombie until Node reaps it in the
 * loop, so this always finds its start ticks.
 */
export function readProcStatSync(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks after boot): with the pid, it names one process for the boot's lifetime. */
export async function readStartTicks(pid: number): Promise<string | undefined> {
  return (await readProcStat(pid))?.startTicks;
}

/** True while `pid` is the same process as when `startTicks` was read, and not a zombie. */
export async function isAlive(pid: number, startTicks: string): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat !== undefined && stat.startTicks === startTicks && stat.state !== "Z" && stat.state !== "X";
}

/** Every pid in /proc right now. */
export async function listPids(): Promise<number[]> {
  const entries = await readdir("/proc");
  const pids: number[] = [];
  for (const entry of entries) {
    if (/^\d+$/.test(entry)) pids.push(Number(entry));
  }
  return pids;
}

/** /proc/<pid>/environ as a map, or undefined when it cannot be read (gone, or another user's process). */
export async function readEnviron(pid: number): Promise<Map<string, string> | undefined> {
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/environ`, "utf8");
  } catch {
    return undefined;
  }
  const environ = new Map<string, string>();
  for (const entry of raw.split("\0")) {
    const equals = entry.indexOf("=");
    if (equals > 0) environ.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  return environ;
}

/** A CPU reading to compute the next one against. */
export interface UsageSample {
  /** utime + stime summed over the processes, in clock ticks. */
  ticks: number;
  /** Wall clock of the reading, epoch ms. */
  at: number;
}

export interface UsageReading {
  usage: ResourceUsage;
  sample: UsageSample;
  /** How many processes were summed (0: the group is gone). */
  processCount: number;
}

/** CPU and RSS summed over every process whose process group is `pgid`. */
export async function groupUsage(pgid: number, previous?: UsageSample): Promise<UsageReading> {
  const members: number[] = [];
  for (const pid of await listPids()) {
    const stat = await readProcStat(pid);
    if (stat?.pgrp === pgid) members.push(pid);
  }
  return pidsUsage(members, previous);
}

/**
 * CPU (millicores over the wall time since `previous`) and RSS summed over
 * `pids`. A process that exited since the previous sample takes its ticks
 * with it, so the CPU figure is clamped at 0. Without a previous sample (a
 * container's first reading) each process's average since it started is
 * used, as `ps` does, rather than 0: an autoscaler must not read a busy new
 * pod as idle.
 */
export async function pidsUsage(pids: readonly number[], previous?: UsageSample, now: () => number = Date.now): Promise<UsageReading> {
  let ticks = 0;
  let rssBytes = 0;
  let processCount = 0;
  let lifetimeMillis = 0;
  const uptimeSeconds = previous ? undefined : await readUptimeSeconds();
  for (const pid of pids) {
    const stat = await readProcStat(pid);
    if (!stat) continue;
    processCount += 1;
    ticks += stat.cpuTicks;
    rssBytes += await readRssBytes(pid);
    if (uptimeSeconds !== undefined) {
      const ageSeconds = uptimeSeconds - Number(stat.startTicks) / CLOCK_TICKS_PER_SECOND;
      if (ageSeconds > 0) lifetimeMillis += (stat.cpuTicks / CLOCK_TICKS_PER_SECOND / ageSeconds) * 1000;
    }
  }
  const at = now();
  let cpuMillis = Math.round(lifetimeMillis);
  if (previous && at > previous.at) {
    const cpuMs = ((ticks - previous.ticks) / CLOCK_TICKS_PER_SECOND) * 1000;
    cpuMillis = Math.max(0, Math.round((cpuMs / (at - previous.at)) * 1000));
  }
  return { usage: { cpuMillis, rssBytes }, sample: { ticks, at }, processCount };
}

/** Seconds since boot, from /proc/uptime (the clock /proc/<pid>/stat's starttime counts on). */
async function readUptimeSeconds(): Promise<number | undefined> {
  try {
    const seconds = Number((await readFile("/proc/uptime", "utf8")).split(" ")[0]);
    return Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of /proc/<pid>/status in bytes (0 for kernel threads, zombies, or a vanished process). */
async function readRssBytes(pid: number): Promise<number> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, "utf8");
  } catch {
    return 0;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * The pids of the cgroup `pid` lives in (a container's processes), or
 * undefined when that cgroup cannot be found from here (another cgroup
 * namespace, an unmounted hierarchy). Looks in a v1 hierarchy that tracks
 * processes (pids, memory, cpuacct) first, then the v2 unified one; a
 * cgroup.procs that does not list `pid` itself is the wrong file.
 */
export async function cgroupPids(pid: number): Promise<number[] | undefined> {
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return undefined;
  }
  const candidates: string[] = [];
  const unified: string[] = [];
  for (const line of raw.split("\n")) {
    const [, controllers, path] = /^(?:\d+):([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || path === undefined || path === "/") continue;
    if (controllers === "") {
      unified.push(`/sys/fs/cgroup${path}`, `/sys/fs/cgroup/unified${path}`);
      continue;
    }
    const names = controllers.split(",");
    if (names.some((name) => ["pids", "memory", "cpuacct", "cpu"].includes(name))) {
      candidates.push(`/sys/fs/cgroup/${controllers}${path}`);
      for (const name of names) candidates.push(`/sys/fs/cgroup/${name}${path}`);
    }
  }
  for (const dir of [...candidates, ...unified]) {
    let procs: string;
    try {
      procs = await readFile(`${dir}/cgroup.procs`, "utf8");
    } catch {
      continue;
    }
    const pids = procs.split("\n").filter((entry) => entry !== "").map(Number);
    if (pids.includes(pid)) return pids;
  }
  return undefined;
}

/** When a process with these start ticks started (from the boot time in /proc/stat). */
export async function processStartedAt(startTicks: string): Promise<Date> {
  const stat = await readFile("/proc/stat", "utf8");
  const bootSeconds = Number(/^btime\s+(\d+)$/m.exec(stat)?.[1] ?? Number.NaN);
  const started = bootSeconds * 1000 + (Number(startTicks) / CLOCK_TICKS_PER_SECOND) * 1000;
  return Number.isFinite(started) ? new Date(started) : new Date();
}

/** /proc/sys/kernel/random/boot_id: a new value after every reboot, so pids from before it mean nothing. */
export async function bootId(): Promise<string> {
  return (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
}

/** What the host offers: CPUs as millicores and MemTotal in bytes. */
export async function nodeCapacity(): Promise<{ cpuMillis: number; memoryBytes: number }> {
  const meminfo = await readFile("/proc/meminfo", "utf8");
  const match = /^MemTotal:\s+(\d+)\s+kB$/m.exec(meminfo);
  return { cpuMillis: availableParallelism() * 1000, memoryBytes: match ? Number(match[1]) * 1024 : 0 };
}
