/**
 * The PostgreSQL a benchmark runs on: DATABASE_URL when set, otherwise an
 * embedded one in a temp dir (removed by `close`), migrated either way.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPool, migrate, startEmbeddedPostgres } from "../../src/db/index.ts";

export interface BenchDatabase {
  /** A temp dir the bench may use; removed by `close`. */
  work: string;
  url: string;
  pool: ReturnType<typeof createPool>;
  /** Ends the pool, stops an embedded PostgreSQL and removes the temp dir. Idempotent; never throws. */
  close(): Promise<void>;
}

export async function benchDatabase(name: string): Promise<BenchDatabase> {
  const work = await mkdtemp(join(tmpdir(), `capstan-bench-${name}-`));
  let stop: (() => Promise<void>) | undefined;
  let pool: ReturnType<typeof createPool> | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await pool?.end().catch(() => undefined);
      await stop?.().catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    })());
  try {
    let url = process.env.DATABASE_URL;
    if (!url) {
      const embedded = await startEmbeddedPostgres({ dataDir: join(work, "pg") });
      stop = () => embedded.stop();
      url = embedded.url;
    }
    pool = createPool(url);
    await migrate(pool);
    return { work, url, pool, close };
  } catch (error) {
    await close();
    throw error;
  }
}
