import { createHash } from "node:crypto";
import { realpath } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";

/**
 * One agent per state dir, for the whole life of the agent process. Two
 * agents on one state dir both re-adopt from the same record: each finds the
 * recorded process gone and starts its own, and each kills the other's as an
 * orphan, so a StatefulSet pod runs twice on its claim. Checking that the
 * agent's socket answers is no guard: an agent listens only after it has
 * adopted (and started) its pods, so two agents started together both pass.
 *
 * The lock is a unix socket in Linux's abstract namespace, named after the
 * state dir's real path: binding it is atomic (EADDRINUSE for the second),
 * and the kernel releases it when the holder dies, SIGKILL included, so no
 * stale lock file outlives a crashed agent. The agent's sockets are
 * close-on-exec: its pods do not hold it. (Abstract names live in a network
 * namespace: two agents on one state dir from two namespaces are not kept
 * apart, as no agent is run that way.)
 */

export class StateDirInUseError extends Error {
  override name = "StateDirInUseError";
  constructor(readonly stateDir: string) {
    super(`another capstan-agent is running (or starting) on ${stateDir}`);
  }
}

export interface StateDirLock {
  release(): Promise<void>;
}

/** Takes the state dir's lock, or throws StateDirInUseError when another agent holds it. */
export async function lockStateDir(stateDir: string): Promise<StateDirLock> {
  const name = await lockName(stateDir);
  // Connections are only probes (stateDirInUse): answered by closing them.
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(error.code === "EADDRINUSE" ? new StateDirInUseError(stateDir) : error));
    server.listen({ path: name }, () => resolve());
  });
  // Held for as long as the agent runs, without keeping a process alive that has nothing else to do.
  server.unref();
  let released: Promise<void> | undefined;
  return {
    release: () => (released ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}

/** Whether an agent holds the state dir's lock (runs, or is still adopting its pods); never takes it. */
export async function stateDirInUse(stateDir: string): Promise<boolean> {
  const name = await lockName(stateDir);
  return new Promise((resolve) => {
    const socket = createConnection(name);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `\0capstan-agent-<sha256 of the real path>`: one name per directory, however it is spelled, within the 108-byte limit. */
async function lockName(stateDir: string): Promise<string> {
  const path = await realpath(stateDir).catch(() => stateDir);
  return `\0capstan-agent-${createHash("sha256").update(path).digest("hex")}`;
}
