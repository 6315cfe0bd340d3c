import { beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore, PgRolloutLog } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { PgNotificationOutbox } from "../../src/notifications/index.ts";
import { createStatusApp } from "../../src/status/index.ts";
import { eventually } from "../helpers/eventually.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { applyManifests, notifierYaml } from "../notifications/fixtures.ts";
import { element, hasElement, textOf } from "./page/html.ts";

/** The overview's notifications section on real PostgreSQL: deliveries made by the real outbox from stored facts, their state and errors escaped. */

const database = useTestDatabase();
let store: PgDesiredStore;
let outbox: PgNotificationOutbox;

beforeEach(async () => {
  const { pool } = database();
  await pool.query("TRUNCATE revisions, objects, events, rollouts, notification_deliveries RESTART IDENTITY CASCADE");
  await pool.query("UPDATE notification_cursor SET horizon = pg_current_xact_id()");
  store = new PgDesiredStore(pool);
  outbox = new PgNotificationOutbox(pool);
});

const overview = async (withOutbox = true): Promise<string> => {
  const app = createStatusApp({ store, rollouts: new PgRolloutLog(database().pool), log: silentLogger, storeReachable: async () => true, ...(withOutbox ? { notifications: outbox } : {}) });
  const response = await app.request("/");
  expect(response.status).toBe(200);
  return response.text();
};

describe("the notifications section", () => {
  it("shows each delivery's Notifier, event, object, state and last error, escaped, and never the receiver's URL", async () => {
    await applyManifests(store, notifierYaml("team", "https://hooks.example.com/services/T000/B000/tok3n-in-url"));
    await store.recordEvent({ kind: "Deployment", namespace: "shop", name: "web", type: "Warning", reason: "RolloutFailed", message: "<img src=x onerror=alert(1)> crash-looping", source: "test" });
    await store.recordEvent({ kind: "Deployment", namespace: "shop", name: "api", type: "Normal", reason: "RolloutComplete", message: "api complete", source: "test" });
    let added = 0;
    await eventually(async () => {
      added += await outbox.dispatch();
      expect(added).toBe(2);
    });
    const [complete, failed] = await outbox.list({ limit: 10 });
    await outbox.markDelivered(complete!.id, new Date(), 200);
    await outbox.markFailed(failed!.id, "receiver answered 400: <b>bad</b>", 400, new Date());

    const html = await overview();
    const section = element(html, "section", `id="notifications"`);
    const delivered = element(section, "tr", `data-state="delivered"`);
    expect(textOf(delivered)).toMatch(/default\/team.*RolloutComplete.*Deployment shop\/api/s);
    const failedRow = element(section, "tr", `data-state="failed"`);
    expect(textOf(failedRow)).toContain("RolloutFailed");
    expect(textOf(failedRow)).toContain("<img src=x onerror=alert(1)> crash-looping");
    expect(textOf(failedRow)).toContain("receiver answered 400: <b>bad</b>");
    expect(failedRow).not.toContain("<img");
    expect(failedRow).not.toContain("<b>");
    expect(html).not.toContain("tok3n-in-url");
  });

  it("says none were sent when there are no deliveries, and is absent without an outbox", async () => {
    expect(textOf(element(await overview(), "section", `id="notifications"`))).toMatch(/No notifications sent/);
    expect(hasElement(await overview(false), "section", `id="notifications"`)).toBe(false);
  });
});
