import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { CapstanError } from "../errors.ts";

/** migrations/ at the root of the package, next to src/. */
export const defaultMigrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url));

/**
 * Session advisory lock held for the whole run, so that two control planes
 * starting at once take turns: the second waits, then finds nothing to do.
 * The key spells "capsmigr"; it must differ from every other advisory lock key.
 */
const MIGRATION_LOCK_KEY = BigInt("0x636170736d696772").toString();

const fileNamePattern = /^(\d+)_([a-z0-9][a-z0-9_]*)\.sql$/;

/** The schema cannot be brought to what this code expects; capstan must not start. */
export class MigrationError extends CapstanError {
  readonly code = "MigrationFailed";
}

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  sql: string;
}

/**
 * Reads `NNN_name.sql` files in numeric order. Any other `.sql` file is an
 * error rather than something skipped: a typo in a name must not silently
 * leave a migration unapplied.
 */
export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = (await readdir(dir)).filter((entry) => entry.endsWith(".sql"));
  const migrations: MigrationFile[] = [];
  const byVersion = new Map<number, string>();
  for (const entry of entries) {
    const match = fileNamePattern.exec(entry);
    if (!match) {
      throw new MigrationError(
        `migration file ${entry} in ${dir} is malformed: expected NNN_name.sql (digits, underscore, lowercase name)`,
      );
    }
    const version = Number(match[1]);
    if (!Number.isSafeInteger(version) || version < 1 || version > 2 ** 31 - 1) {
      throw new MigrationError(`migration file ${entry} in ${dir} has version ${match[1]}, outside 1..2147483647`);
    }
    const clash = byVersion.get(version);
    if (clash) throw new MigrationError(`migration files ${clash} and ${entry} in ${dir} share version ${version}`);
    byVersion.set(version, entry);
    migrations.push({ version, name: match[2]!, file: entry, sql: await readFile(join(dir, entry), "utf8") });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

/**
 * Brings the database schema up to date: applies every migration in `dir` not
 * yet recorded in schema_migrations, in version order, each in its own
 * transaction. Returns the versions it applied (empty when up to date).
 *
 * Refuses to run when the database records a version this code does not have
 * (a newer capstan migrated it) or a version under another name: running old
 * code on a newer schema is how data gets damaged.
 */
export async function migrate(pool: pg.Pool, dir: string = defaultMigrationsDir): Promise<number[]> {
  const migrations = await readMigrations(dir);
  const client = await pool.connect();
  let connectionError: Error | undefined;
  const onError = (error: Error): void => {
    connectionError = error;
  };
  client.on("error", onError);
  let locked = false;
  try {
    // Waiting for another process's migrations, or running a long one, must
    // not trip the pool's statement timeout.
    await client.query("SET statement_timeout = 0");
    await client.query("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    locked = true;
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version int PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const applied = await client.query<{ version: number; name: string }>(
      "SELECT version, name FROM schema_migrations ORDER BY version",
    );
    checkAppliedAgainstKnown(applied.rows, migrations);
    const done = new Set(applied.rows.map((row) => row.version));
    const appliedNow: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await applyOne(client, migration);
      appliedNow.push(migration.version);
    }
    return appliedNow;
  } finally {
    if (locked) {
      await client.query("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY]).catch((error: Error) => {
        connectionError ??= error;
      });
    }
    await client.query("RESET statement_timeout").catch((error: Error) => {
      connectionError ??= error;
    });
    client.off("error", onError);
    // A broken connection is destroyed, which also frees a session lock it held.
    client.release(connectionError);
  }
}

function checkAppliedAgainstKnown(applied: Array<{ version: number; name: string }>, known: MigrationFile[]): void {
  const knownByVersion = new Map(known.map((migration) => [migration.version, migration]));
  const unknown = applied.filter((row) => !knownByVersion.has(row.version));
  if (unknown.length > 0) {
    const list = unknown.map((row) => `${row.version} (${row.name})`).join(", ");
    throw new MigrationError(
      `the database has migration ${list} that this version of capstan does not know; ` +
        "it was migrated by a newer capstan — run that version or restore a matching backup",
    );
  }
  for (const row of applied) {
    const file = knownByVersion.get(row.version)!;
    if (file.name !== row.name) {
      throw new MigrationError(
        `migration ${row.version} was applied as "${row.name}" but this capstan has ${file.file}; ` +
          "the migrations of this build do not match the database",
      );
    }
  }
}

async function applyOne(client: pg.PoolClient, migration: MigrationFile): Promise<void> {
  try {
    await client.query("BEGIN");
    await client.query(migration.sql);
    await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
      migration.version,
      migration.name,
    ]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    const where = locate(migration.sql, (error as { position?: string }).position);
    throw new MigrationError(
      `migration ${migration.file}${where} failed: ${(error as Error).message}; nothing of it was applied`,
      { cause: error },
    );
  }
}

/** Turns PostgreSQL's 1-based character offset into `:line:column` within the file. */
function locate(sql: string, position: string | undefined): string {
  const offset = Number(position);
  if (!position || !Number.isInteger(offset) || offset < 1) return "";
  const before = sql.slice(0, offset - 1);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n") - 1;
  return `:${line}:${column}`;
}
