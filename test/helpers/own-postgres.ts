import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedServer } from "../../src/db/index.ts";
import { tempDir } from "./git-fixture.ts";

/**
 * A PostgreSQL server of a test's own (embedded, on a temp dir and a free
 * port), which the test stops and starts under a running control plane. Never
 * the shared test database: stopping that would break every other file.
 */
export interface OwnPostgres {
  /** The capstan database; the same across restarts (same port, same password). */
  readonly url: string;
  /** Stops the server (a fast shutdown: every connection is cut); resolves with the time it was gone. */
  stop(): Promise<number>;
  /** Starts it again on the same data dir and port; resolves with the time it accepts connections. */
  start(): Promise<number>;
  /** One query on a connection of its own (pools may hold connections the restart broke). */
  query<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Stops it and removes its files. */
  remove(): Promise<void>;
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = await tempDir("capstan-fault-pg-");
  const dataDir = join(dir.path, "pg");
  const settings = { fsync: "off" };
  let server: EmbeddedServer;
  try {
    server = await startEmbeddedPostgres({ dataDir, settings });
  } catch (error) {
    await dir.cleanup();
    throw error;
  }
  const port = server.port;
  return {
    url: server.url,
    async stop() {
      await server.stop();
      return Date.now();
    },
    async start() {
      server = await startEmbeddedPostgres({ dataDir, port, settings });
      return Date.now();
    },
    async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        return (await client.query<T>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    async remove() {
      await server.stop();
      await dir.cleanup();
    },
  };
}
