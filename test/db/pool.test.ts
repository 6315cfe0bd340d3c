import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withTransaction } from "../../src/db/index.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();

beforeAll(async () => {
  await database().pool.query("CREATE TABLE ledger (entry text)");
});
afterAll(async () => {
  await database().pool.query("DROP TABLE IF EXISTS ledger");
});

async function entries(): Promise<string[]> {
  const result = await database().pool.query("SELECT entry FROM ledger ORDER BY entry");
  return result.rows.map((row) => row.entry);
}

describe("createPool", () => {
  it('names its connections "capstan" and caps statements', async () => {
    // The test helper's pool is a createPool pool; its settings are visible server-side.
    const result = await database().pool.query("SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS timeout");
    expect(result.rows[0]).toEqual({ app: "capstan", timeout: "30s" });
  });

  it("survives the server killing an idle connection", async () => {
    const pool = database().pool;
    const [victim, killer] = [await pool.connect(), await pool.connect()];
    const pid = (await victim.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    victim.release();

    await killer.query("SELECT pg_terminate_backend($1)", [pid]);
    killer.release();
    // Give the pool time to notice; without its 'error' listener this would crash the process.
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect((await pool.query("SELECT 1 AS one")).rows[0].one).toBe(1);
  });
});

describe("withTransaction", () => {
  it("commits what the work wrote and returns its value", async () => {
    const value = await withTransaction(database().pool, async (client) => {
      await client.query("INSERT INTO ledger VALUES ('committed')");
      return 42;
    });

    expect(value).toBe(42);
    expect(await entries()).toContain("committed");
  });

  it("rolls back everything and rethrows when the work throws", async () => {
    const failure = new Error("half way");

    await expect(
      withTransaction(database().pool, async (client) => {
        await client.query("INSERT INTO ledger VALUES ('rolled-back')");
        throw failure;
      }),
    ).rejects.toBe(failure);

    expect(await entries()).not.toContain("rolled-back");
  });

  it("returns the client to the pool either way", async () => {
    const pool = database().pool;
    for (let round = 0; round < 20; round++) {
      await withTransaction(pool, async () => undefined);
      await withTransaction(pool, async () => Promise.reject(new Error("no"))).catch(() => undefined);
    }

    expect(pool.totalCount - pool.idleCount).toBe(0);
  });

  it("discards a client whose connection died inside the transaction", async () => {
    const pool = database().pool;

    await expect(
      withTransaction(pool, async (client) => {
        await client.query("SELECT pg_terminate_backend(pg_backend_pid())");
      }),
    ).rejects.toThrow();

    expect((await pool.query("SELECT 1 AS one")).rows[0].one).toBe(1);
  });
});
