import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createPool, defaultMigrationsDir, migrate, MigrationError } from "../../src/db/index.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function emptyDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase({ empty: true });
  cleanups.push(() => database.drop());
  return database;
}

async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "capstan-migrations-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return dir;
}

async function recorded(database: TestDatabase): Promise<Array<{ version: number; name: string }>> {
  const result = await database.pool.query("SELECT version, name FROM schema_migrations ORDER BY version");
  return result.rows;
}

async function tableExists(database: TestDatabase, table: string): Promise<boolean> {
  const result = await database.pool.query("SELECT to_regclass($1) IS NOT NULL AS present", [table]);
  return result.rows[0].present;
}

describe("migrate", () => {
  it("applies every migration of the package to an empty database and records each", async () => {
    const database = await emptyDatabase();
    const files = (await readdir(defaultMigrationsDir)).filter((file) => file.endsWith(".sql")).sort();

    const applied = await migrate(database.pool);

    expect(applied).toEqual(files.map((file) => Number(file.split("_")[0])));
    expect((await recorded(database)).map((row) => row.version)).toEqual(applied);
    for (const table of ["revisions", "objects", "events", "sync_state"]) {
      expect(await tableExists(database, table)).toBe(true);
    }
  });

  it("applies nothing on a second run", async () => {
    const database = await emptyDatabase();
    await migrate(database.pool);

    expect(await migrate(database.pool)).toEqual([]);
  });

  it("lets two processes migrate at once: both succeed and each migration runs exactly once", async () => {
    const database = await emptyDatabase();
    // The sleep keeps the first runner inside its migrations while the second arrives.
    const dir = await migrationsDir({
      "001_counter.sql": "CREATE TABLE runs (migration int NOT NULL); INSERT INTO runs VALUES (1);",
      "002_slow.sql": "SELECT pg_sleep(0.3); INSERT INTO runs VALUES (2);",
      "003_more.sql": "INSERT INTO runs VALUES (3);",
    });
    const other = createPool(database.url, { max: 1 });
    cleanups.push(() => other.end());

    const [first, second] = await Promise.all([migrate(database.pool, dir), migrate(other, dir)]);

    expect([...first, ...second].sort()).toEqual([1, 2, 3]);
    expect([first.length, second.length].sort()).toEqual([0, 3]);
    const runs = await database.pool.query("SELECT migration FROM runs ORDER BY migration");
    expect(runs.rows.map((row) => row.migration)).toEqual([1, 2, 3]);
  });

  it("applies only the migrations added since the last run, in numeric order", async () => {
    const database = await emptyDatabase();
    const dir = await migrationsDir({ "001_first.sql": "CREATE TABLE log (step text);" });
    await migrate(database.pool, dir);
    await writeFile(join(dir, "010_tenth.sql"), "INSERT INTO log VALUES ('ten');");
    await writeFile(join(dir, "002_second.sql"), "INSERT INTO log VALUES ('two');");

    expect(await migrate(database.pool, dir)).toEqual([2, 10]);
    const log = await database.pool.query("SELECT step FROM log");
    expect(log.rows.map((row) => row.step)).toEqual(["two", "ten"]);
  });

  it("refuses a database migrated by a newer capstan", async () => {
    const database = await emptyDatabase();
    await migrate(database.pool);
    await database.pool.query("INSERT INTO schema_migrations (version, name) VALUES (999, 'from_the_future')");

    const run = migrate(database.pool);

    await expect(run).rejects.toBeInstanceOf(MigrationError);
    await expect(run).rejects.toThrow(/999 \(from_the_future\).*newer capstan/);
  });

  it("refuses when an applied version now has a different name", async () => {
    const database = await emptyDatabase();
    await migrate(database.pool, await migrationsDir({ "001_first.sql": "SELECT 1;" }));

    await expect(migrate(database.pool, await migrationsDir({ "001_renamed.sql": "SELECT 1;" }))).rejects.toThrow(
      /migration 1 was applied as "first" but this capstan has 001_renamed\.sql/,
    );
  });

  it("rolls a failing migration back whole, keeps the earlier ones, and names the file and line", async () => {
    const database = await emptyDatabase();
    const dir = await migrationsDir({
      "001_good.sql": "CREATE TABLE kept (id int);",
      "002_bad.sql": "CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\nSELECT no_such_column FROM half;\n",
      "003_after.sql": "CREATE TABLE never (id int);",
    });

    const run = migrate(database.pool, dir);

    await expect(run).rejects.toBeInstanceOf(MigrationError);
    await expect(run).rejects.toThrow(/002_bad\.sql:3:8 failed: column "no_such_column" does not exist/);
    expect(await tableExists(database, "kept")).toBe(true);
    expect(await tableExists(database, "half")).toBe(false);
    expect(await tableExists(database, "never")).toBe(false);
    expect(await recorded(database)).toEqual([{ version: 1, name: "good" }]);

    await writeFile(join(dir, "002_bad.sql"), "CREATE TABLE half (id int);");
    expect(await migrate(database.pool, dir)).toEqual([2, 3]);
  });

  it("returns its connection to the pool and releases the lock after a failure", async () => {
    const database = await emptyDatabase();
    const dir = await migrationsDir({ "001_bad.sql": "SELECT 1/0;" });
    await expect(migrate(database.pool, dir)).rejects.toThrow(/division by zero/);

    const locks = await database.pool.query("SELECT count(*)::int AS held FROM pg_locks WHERE locktype = 'advisory'");
    expect(locks.rows[0].held).toBe(0);
    expect(database.pool.waitingCount).toBe(0);
  });

  it.each([
    ["no version", "initial.sql"],
    ["a dash instead of an underscore", "001-initial.sql"],
    ["an upper-case name", "001_Initial.sql"],
    ["an empty name", "001_.sql"],
    ["version zero", "000_initial.sql"],
  ])("refuses a migration file with %s (%s) before touching the database", async (_case, fileName) => {
    const database = await emptyDatabase();
    const dir = await migrationsDir({ "001_fine.sql": "CREATE TABLE fine (id int);", [fileName]: "SELECT 1;" });

    await expect(migrate(database.pool, dir)).rejects.toThrow(MigrationError);
    expect(await tableExists(database, "schema_migrations")).toBe(false);
    expect(await tableExists(database, "fine")).toBe(false);
  });

  it("refuses two files with the same version", async () => {
    const database = await emptyDatabase();
    const dir = await migrationsDir({ "001_one.sql": "SELECT 1;", "1_other.sql": "SELECT 1;" });

    await expect(migrate(database.pool, dir)).rejects.toThrow(/share version 1/);
  });

  it("ignores files that are not SQL", async () => {
    const database = await emptyDatabase();
    const dir = await migrationsDir({ "001_one.sql": "SELECT 1;", "README.md": "# notes" });

    expect(await migrate(database.pool, dir)).toEqual([1]);
  });
});
