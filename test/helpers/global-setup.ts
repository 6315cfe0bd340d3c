import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { createPool, migrate, startEmbeddedPostgres } from "../../src/db/index.ts";

/**
 * One template per server: with TEST_DATABASE_URL, two runs at once against
 * the same server would rebuild it under each other.
 */
const templateDatabase = "capstan_template";

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser URL on the test server's maintenance database. */
    testDatabaseAdminUrl: string;
    /** The migrated template each test database is cloned from. */
    testDatabaseTemplate: string;
    /** Prefix of this run's test databases, so teardown can drop leftovers of crashed files. */
    testDatabaseRunPrefix: string;
  }
}

interface TestServer {
  kind: string;
  adminUrl: string;
  stop(): Promise<void>;
}

/**
 * Picks one PostgreSQL server for the whole run — TEST_DATABASE_URL, else a
 * container where a runtime answers and the image can be had, else an
 * embedded server in a temp dir — and prepares a migrated template database
 * that each test file clones (see test-database.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await chooseServer();
  process.stderr.write(`test database: ${server.kind}\n`);
  const runPrefix = `capstan_test_${process.pid}_${Date.now().toString(36)}_`;
  try {
    await prepareTemplate(server.adminUrl);
  } catch (error) {
    await server.stop();
    throw error;
  }
  project.provide("testDatabaseAdminUrl", server.adminUrl);
  project.provide("testDatabaseTemplate", templateDatabase);
  project.provide("testDatabaseRunPrefix", runPrefix);
  return async () => {
    try {
      await dropLeftovers(server.adminUrl, runPrefix);
    } finally {
      await server.stop();
    }
  };
}

async function chooseServer(): Promise<TestServer> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) return { kind: `TEST_DATABASE_URL (${new URL(external).host})`, adminUrl: external, stop: async () => {} };
  const container = await tryContainer();
  if (container) return container;
  return startEmbedded();
}

async function tryContainer(): Promise<TestServer | null> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  try {
    await getContainerRuntimeClient();
  } catch {
    return null; // no Docker/Podman here: rejects within milliseconds
  }
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  try {
    const container = await new PostgreSqlContainer("postgres:17-alpine").start();
    return {
      kind: `testcontainers (${container.getHost()}:${container.getPort()})`,
      adminUrl: container.getConnectionUri(),
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    // A runtime without a reachable image registry: fall through to embedded.
    process.stderr.write(`test database: container runtime found but PostgreSQL container failed (${(error as Error).message.split("\n")[0]})\n`);
    return null;
  }
}

async function startEmbedded(): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), "capstan-test-pg-"));
  try {
    const server = await startEmbeddedPostgres({
      dataDir: join(root, "pg"),
      database: "postgres",
      // A throwaway cluster: durability buys nothing and costs the two shared cores.
      settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off", max_connections: "200" },
    });
    return {
      kind: `embedded PostgreSQL (127.0.0.1:${server.port}, ${root})`,
      adminUrl: server.adminUrl,
      stop: async () => {
        await server.stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Rebuilt on every run, so a changed migration is always what tests see. It
 * refuses connections once migrated: a session on a template makes CREATE
 * DATABASE ... TEMPLATE fail.
 */
async function prepareTemplate(adminUrl: string): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    const name = admin.escapeIdentifier(templateDatabase);
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [templateDatabase]);
    if (found.rowCount) {
      await admin.query(`ALTER DATABASE ${name} WITH IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE ${name}`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${templateDatabase}`;
  const pool = createPool(url.toString(), { max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  await withAdmin(adminUrl, (admin) =>
    admin.query(`ALTER DATABASE ${admin.escapeIdentifier(templateDatabase)} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true`),
  );
}

async function dropLeftovers(adminUrl: string, runPrefix: string): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    const leftovers = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
      [runPrefix],
    );
    for (const { datname } of leftovers.rows) {
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(datname)} WITH (FORCE)`);
    }
  });
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on("error", () => undefined);
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
