import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { listen, notify, withTransaction, type Listener } from "../../src/db/index.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();

const listeners: Listener[] = [];
afterEach(async () => {
  while (listeners.length > 0) await listeners.pop()!.close();
});

async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The server-side PIDs of this database's LISTEN connections. */
async function listenBackends(): Promise<number[]> {
  const result = await database().pool.query(
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'capstan-listen' AND datname = current_database()",
  );
  return result.rows.map((row) => row.pid);
}

describe("listen and notify", () => {
  it("delivers notifications on the channels listened to, and only those", async () => {
    const received: string[] = [];
    listeners.push(await listen(database().url, ["alpha", "beta"], (channel, payload) => received.push(`${channel}:${payload}`)));

    await notify(database().pool, "alpha", "one");
    await notify(database().pool, "gamma", "unheard");
    await notify(database().pool, "beta", { n: 2 });

    await eventually(() => (received.length >= 2 ? true : undefined), "two notifications");
    expect(received).toEqual(["alpha:one", 'beta:{"n":2}']);
  });

  it("delivers a notification sent in a transaction on commit only", async () => {
    const received: string[] = [];
    listeners.push(await listen(database().url, ["tx"], (_channel, payload) => received.push(payload)));

    await expect(
      withTransaction(database().pool, async (client) => {
        await notify(client, "tx", "rolled back");
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    await withTransaction(database().pool, (client) => notify(client, "tx", "committed"));

    await eventually(() => (received.length > 0 ? true : undefined), "the committed notification");
    expect(received).toEqual(["committed"]);
  });

  it("reconnects after its backend is killed, calls onReconnect, and hears notifications again", async () => {
    const received: string[] = [];
    let reconnects = 0;
    listeners.push(
      await listen(database().url, ["wake"], (_channel, payload) => received.push(payload), {
        onReconnect: () => {
          reconnects++;
        },
        backoff: { initialMs: 20, maxMs: 200 },
      }),
    );
    const [backend] = await listenBackends();
    expect(backend).toBeDefined();

    await database().pool.query("SELECT pg_terminate_backend($1)", [backend]);

    await eventually(() => (reconnects === 1 ? true : undefined), "onReconnect");
    const [replacement] = await listenBackends();
    expect(replacement).not.toBe(backend);
    await notify(database().pool, "wake", "after reconnect");
    await eventually(() => (received.includes("after reconnect") ? true : undefined), "a notification after reconnecting");
  });

  it("keeps retrying with back-off while the server refuses, and recovers", async () => {
    let reconnects = 0;
    const url = database().url;
    listeners.push(
      await listen(url, ["wake"], () => undefined, {
        onReconnect: () => {
          reconnects++;
        },
        backoff: { initialMs: 20, maxMs: 100 },
      }),
    );
    const name = new URL(url).pathname.slice(1);
    // A database cannot lock itself out; this is done from the maintenance database.
    const admin = new pg.Client({ connectionString: inject("testDatabaseAdminUrl") });
    await admin.connect();
    try {
      // Refuse new connections for a while, then kill the listener's connection.
      await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS false`);
      const [backend] = await listenBackends();
      await admin.query("SELECT pg_terminate_backend($1)", [backend]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(reconnects).toBe(0);
    } finally {
      await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    await eventually(() => (reconnects === 1 ? true : undefined), "onReconnect once connections are allowed again");
  });

  it("rejects at once when the first connection fails", async () => {
    const url = new URL(database().url);
    url.pathname = "/no_such_database";

    await expect(listen(url.toString(), ["wake"], () => undefined)).rejects.toThrow(/no_such_database/);
  });

  it("closes its connection and stops reconnecting on close", async () => {
    const listener = await listen(database().url, ["wake"], () => undefined, { backoff: { initialMs: 10, maxMs: 10 } });
    expect(await listenBackends()).toHaveLength(1);

    await listener.close();
    await listener.close();

    await eventually(async () => ((await listenBackends()).length === 0 ? true : undefined), "the connection to close");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await listenBackends()).toEqual([]);
  });

  it("survives a handler that throws", async () => {
    const received: string[] = [];
    listeners.push(
      await listen(database().url, ["fragile"], (_channel, payload) => {
        if (payload === "bad") throw new Error("handler bug");
        received.push(payload);
      }),
    );

    await notify(database().pool, "fragile", "bad");
    await notify(database().pool, "fragile", "good");

    await eventually(() => (received.includes("good") ? true : undefined), "the next notification");
  });
});
