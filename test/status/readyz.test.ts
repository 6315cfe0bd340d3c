import { createServer, type Server, type Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPool } from "../../src/db/index.ts";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, Metrics, type Leadership } from "../../src/status/index.ts";
import { systemClock } from "../../src/clock.ts";
import { parseExposition, valueOf } from "../helpers/prometheus-text.ts";
import { freePort } from "../helpers/tcp.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.ts";

/**
 * /healthz and /readyz against a real PostgreSQL, one that refuses
 * connections, and one that accepts them and never answers (a dead host
 * behind a live load balancer): readiness answers 503 within its bound and
 * names the failed check.
 */

let database: TestDatabase;
let blackHole: Server;
let blackHoleUrl: string;
const sockets = new Set<Socket>();

beforeEach(async () => {
  database = await createTestDatabase();
  blackHole = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => blackHole.listen(0, "127.0.0.1", resolve));
  const address = blackHole.address() as { port: number };
  blackHoleUrl = `postgres://capstan:pw@127.0.0.1:${address.port}/capstan`;
});

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => blackHole.close(resolve));
  await database.drop();
});

/** The control plane's own check (src/controlplane.ts): SELECT 1 through its pool. */
const selectOne = (pool: ReturnType<typeof createPool>) => async () => (await pool.query("SELECT 1")).rowCount === 1;
const follower = (leader: Leadership["leader"]): Leadership => ({ mode: "replicas", replica: "b", role: "follower", leader, fencedWrites: 0 });

describe("/healthz and /readyz", () => {
  it("is alive and ready on a reachable store with a known leader", async () => {
    const app = createStatusApp({ store: new PgDesiredStore(database.pool), log: silentLogger, storeReachable: selectOne(database.pool) });
    expect(await (await app.request("/healthz")).text()).toBe("ok");
    const ready = await app.request("/readyz");
    expect([ready.status, await ready.text()]).toEqual([200, "ok"]);
  });

  it("answers 503 within its 2 s bound, naming the store, when the store accepts connections and never answers", async () => {
    const pool = createPool(blackHoleUrl, { connectionTimeoutMs: 60_000 });
    pool.on("error", () => undefined);
    try {
      const app = createStatusApp({ store: new PgDesiredStore(pool), log: silentLogger, storeReachable: selectOne(pool) });
      expect(await (await app.request("/healthz")).text()).toBe("ok");
      const started = performance.now();
      const response = await app.request("/readyz");
      const elapsedMs = performance.now() - started;
      expect([response.status, await response.text()]).toEqual([503, "store unreachable: no answer within 2000 ms"]);
      expect(elapsedMs).toBeGreaterThanOrEqual(1_900);
      expect(elapsedMs).toBeLessThan(4_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await pool.end().catch(() => undefined);
    }
  });

  it("says every failed check, without the driver's message, when the store refuses and no leader is known", async () => {
    const pool = createPool(`postgres://capstan:pw@127.0.0.1:${await freePort("127.0.0.1")}/capstan`, { connectionTimeoutMs: 5_000 });
    pool.on("error", () => undefined);
    try {
      const app = createStatusApp({ store: new PgDesiredStore(pool), log: silentLogger, storeReachable: selectOne(pool), leadership: () => follower(null) });
      const response = await app.request("/readyz");
      expect([response.status, await response.text()]).toEqual([503, "store unreachable: the query failed\nno leader known"]);
    } finally {
      await pool.end().catch(() => undefined);
    }
  });

  it("still serves /metrics, with the store reported down, when the store never answers", async () => {
    const pool = createPool(blackHoleUrl, { connectionTimeoutMs: 60_000 });
    pool.on("error", () => undefined);
    try {
      const store = new PgDesiredStore(pool);
      const metrics = new Metrics({ store, clock: systemClock, log: silentLogger, storeTimeoutMs: 500 });
      const app = createStatusApp({ store, log: silentLogger, storeReachable: selectOne(pool), metrics });
      const started = performance.now();
      const response = await app.request("/metrics");
      expect(response.status).toBe(200);
      expect(performance.now() - started).toBeLessThan(3_000);
      const exposition = parseExposition(await response.text());
      expect(valueOf(exposition, "capstan_store_up")).toBe(0);
      expect(valueOf(exposition, "capstan_pods", { phase: "Running" })).toBeUndefined();
      expect(exposition.types.get("process_cpu_user_seconds_total")).toBe("counter");
    } finally {
      for (const socket of sockets) socket.destroy();
      await pool.end().catch(() => undefined);
    }
  });
});
