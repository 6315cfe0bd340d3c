import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import { createPool, migrate } from "../../src/db/index.ts";
import { startOwnPostgres } from "./own-postgres.ts";

export interface TestDatabase {
  /** URL of a fresh, fully migrated database of its own. */
  url: string;
  pool: pg.Pool;
  /** Closes the pool and drops the database; idempotent. */
  drop(): Promise<void>;
}

/** SQLSTATE 55006 object_in_use: "source database is being accessed by other users". */
const objectInUse = "55006";

/**
 * Clones the run's migrated template (see global-setup.ts) into a database
 * with a unique name: a file-system copy, far faster than migrating anew.
 * `empty: true` gives a database without any schema, for migration tests.
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject("testDatabaseAdminUrl");
  const name = `${inject("testDatabaseRunPrefix")}${randomBytes(4).toString("hex")}`;
  // template0 is PostgreSQL's pristine database: no capstan tables at all.
  const template = options.empty ? "template0" : inject("testDatabaseTemplate");
  await withAdmin(adminUrl, async (admin) => {
    const statement = `CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE ${admin.escapeIdentifier(template)}`;
    // The template refuses connections, but a clone in progress elsewhere can
    // still briefly count as a user of it on some versions; retry for a while.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(statement);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== objectInUse || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
      }
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), { max: 5 });
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    pool,
    drop: () =>
      (dropping ??= (async () => {
        await pool.end();
        await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`));
      })()),
  };
}

/**
 * Gives the calling test file its own database for all its tests: created
 * before the first test, dropped after the last. Call at the top of a file or
 * describe block; the getter is usable inside tests and hooks.
 */
export function useTestDatabase(): () => TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });
  return () => {
    if (!database) throw new Error("the test database exists only inside tests and hooks (useTestDatabase)");
    return database;
  };
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: "capstan-test" });
  admin.on("error", () => undefined);
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

/**
 * Like useTestDatabase, but on a PostgreSQL server of the file's own
 * (own-postgres.ts), migrated afresh. For tests whose timing depends on
 * every transaction open on the *server*, such as the notification outbox's
 * cursor (migrations/007): other files' transactions on the shared server
 * would hold them back.
 */
export function useOwnServerDatabase(): () => TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    const server = await startOwnPostgres();
    const pool = createPool(server.url, { max: 5 });
    let dropping: Promise<void> | undefined;
    database = {
      url: server.url,
      pool,
      drop: () =>
        (dropping ??= (async () => {
          await pool.end();
          await server.remove();
        })()),
    };
    await migrate(pool);
  }, 120_000);
  afterAll(async () => {
    await database?.drop();
  });
  return () => {
    if (!database) throw new Error("the test database exists only inside tests and hooks (useOwnServerDatabase)");
    return database;
  };
}
