import { beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { PgNotificationOutbox } from "../../src/notifications/index.ts";
import { createStatusApp, notificationListSchema, recentNotifications } from "../../src/status/index.ts";
import { eventually } from "../helpers/eventually.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { applyManifests, notifierYaml } from "../notifications/fixtures.ts";

/** GET /api/notifications on real PostgreSQL: shape, paging by `before`, state filter, bad parameters. */

const database = useTestDatabase();
let app: ReturnType<typeof createStatusApp>;
let outbox: PgNotificationOutbox;

beforeEach(async () => {
  const { pool } = database();
  await pool.query("TRUNCATE revisions, objects, events, rollouts, notification_deliveries RESTART IDENTITY CASCADE");
  await pool.query("UPDATE notification_cursor SET horizon = pg_current_xact_id()");
  const store = new PgDesiredStore(pool);
  outbox = new PgNotificationOutbox(pool);
  app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, notifications: outbox });
  await applyManifests(store, notifierYaml("ops", "https://hooks.example.com/services/T0/B0/s3cr3t-token"));
  for (let index = 0; index < 5; index++) {
    await store.recordEvent({ kind: "Deployment", namespace: "default", name: `web-${index}`, type: "Normal", reason: "RolloutComplete", message: `done ${index}`, source: "test" });
  }
  // Until all five are in: another test file's open transaction on the shared server can hold the horizon back.
  let added = 0;
  await eventually(async () => {
    added += await outbox.dispatch();
    expect(added).toBe(5);
  });
  await outbox.markFailed(1, "HTTP 410 Gone", 410, new Date());
  await outbox.markRetry(2, "could not reach https://hooks.example.com: ECONNREFUSED", null, new Date(Date.now() + 60_000));
});

describe("GET /api/notifications", () => {
  it("lists deliveries newest first with state, attempts, last error, notifier and type, in pages", async () => {
    const first = await app.request("/api/notifications?limit=2");
    expect(first.status).toBe(200);
    const page = notificationListSchema.parse(await first.json());
    expect(page.items.map((item) => item.id)).toEqual([5, 4]);
    expect(page.next).toBe(4);
    expect(page.items[0]).toMatchObject({ notifier: { namespace: "default", name: "ops" }, type: "RolloutComplete", state: "pending", attempts: 0, lastError: null });

    const rest = notificationListSchema.parse(await (await app.request("/api/notifications?limit=2&before=4")).json());
    expect(rest.items.map((item) => item.id)).toEqual([3, 2]);
    const last = notificationListSchema.parse(await (await app.request("/api/notifications?limit=2&before=2")).json());
    expect(last.items.map((item) => [item.id, item.state, item.attempts, item.lastError, item.lastStatus])).toEqual([[1, "failed", 1, "HTTP 410 Gone", 410]]);
    expect(last.next).toBeNull();
  });

  it("filters by state, and never shows the receiver's URL", async () => {
    const body = await (await app.request("/api/notifications?state=pending")).text();
    expect(notificationListSchema.parse(JSON.parse(body)).items.map((item) => item.id)).toEqual([5, 4, 3, 2]);
    expect(body).not.toContain("s3cr3t-token");
  });

  it("answers 400 naming the bad parameter", async () => {
    for (const query of ["limit=0", "limit=501", "before=x", "state=lost", "page=2"]) {
      const response = await app.request(`/api/notifications?${query}`);
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/^bad query parameters: /);
    }
  });

  it("answers 404 on a server without notifications, and the page's data function reads the same list", async () => {
    const bare = createStatusApp({ store: new PgDesiredStore(database().pool), log: silentLogger, storeReachable: async () => true });
    expect((await bare.request("/api/notifications")).status).toBe(404);
    const list = await recentNotifications(outbox, { limit: 3, state: "pending" });
    expect(list.items.map((item) => item.id)).toEqual([5, 4, 3]);
    expect(list.next).toBe(3);
  });
});
