import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../logging.ts";

/**
 * What the postmaster.pid in a data directory says about the server that
 * wrote it. PostgreSQL itself ignores a lock whose PID is dead, but refuses
 * one whose PID was reused by any live process it may not signal — the usual
 * state after a crash in a container, where PIDs are small and soon reused.
 */
export type PostmasterLock =
  | { state: "absent" }
  | { state: "stale"; pid: number | null; reason: string }
  /** A live postmaster on this data directory; `orphaned` when its parent died (reparented to init). */
  | { state: "running"; pid: number; port: number | null; orphaned: boolean };

export async function inspectPostmasterLock(dataDir: string): Promise<PostmasterLock> {
  let text: string;
  try {
    text = await readFile(join(dataDir, "postmaster.pid"), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { state: "absent" };
    throw error;
  }
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return { state: "stale", pid: null, reason: "unreadable PID" };
  if (!processExists(pid)) return { state: "stale", pid, reason: "process is gone" };
  const owner = await describeProcess(pid);
  // Without /proc (macOS) a live PID cannot be told apart; assume the server is real.
  if (!owner) return { state: "running", pid, port: portOf(lines), orphaned: false };
  if (owner.command !== "postgres" || !owner.args.includes(dataDir)) {
    return { state: "stale", pid, reason: `PID now belongs to "${owner.command}"` };
  }
  return { state: "running", pid, port: portOf(lines), orphaned: owner.parentPid === 1 };
}

export async function removeStaleLock(dataDir: string, lock: PostmasterLock & { state: "stale" }, log: Logger): Promise<void> {
  log.warn({ dataDir, pid: lock.pid, reason: lock.reason }, "removing stale postmaster.pid left by a crash");
  await rm(join(dataDir, "postmaster.pid"), { force: true });
}

/**
 * Shuts down a postmaster whose capstan died without stopping it (kill -9):
 * nothing else will, and it holds the data directory. SIGINT is PostgreSQL's
 * "fast" shutdown: sessions are ended, data is flushed.
 */
export async function stopOrphanedPostmaster(pid: number, log: Logger, timeoutMs = 15_000): Promise<void> {
  log.warn({ pid }, "stopping an embedded PostgreSQL left running by a previous capstan");
  process.kill(pid, "SIGINT");
  const deadline = Date.now() + timeoutMs;
  while (processExists(pid)) {
    if (Date.now() > deadline) throw new Error(`PostgreSQL (PID ${pid}) did not shut down within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function describeProcess(pid: number): Promise<{ command: string; args: string[]; parentPid: number } | null> {
  try {
    const [comm, cmdline, stat] = await Promise.all([
      readFile(`/proc/${pid}/comm`, "utf8"),
      readFile(`/proc/${pid}/cmdline`, "utf8"),
      readFile(`/proc/${pid}/stat`, "utf8"),
    ]);
    // stat is "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    const afterComm = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { command: comm.trim(), args: cmdline.split("\0"), parentPid: Number(afterComm[1]) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && (await hasProc())) return { command: "(exited)", args: [], parentPid: 0 };
    return null;
  }
}

async function hasProc(): Promise<boolean> {
  return readFile("/proc/self/stat", "utf8").then(
    () => true,
    () => false,
  );
}

function portOf(lines: string[]): number | null {
  const port = Number(lines[3]);
  return Number.isInteger(port) && port > 0 ? port : null;
}
