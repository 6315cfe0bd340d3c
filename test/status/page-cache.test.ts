import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, LiveUpdates, ManualChangeFeed } from "../../src/status/index.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { element, hasElement, textOf } from "./page/html.ts";

/** With a change feed, `/` reads the store once per change instead of once per request; what the feed announces is never served stale. */

const database = useTestDatabase();
let store: PgDesiredStore;
let feed: ManualChangeFeed;
let live: LiveUpdates;
let clock: ManualClock;
let app: ReturnType<typeof createStatusApp>;

beforeEach(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
  store = new PgDesiredStore(database().pool);
  feed = new ManualChangeFeed();
  live = await LiveUpdates.start({ feed, coalesceMs: 10_000 });
  clock = new ManualClock(new Date());
  app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, live, clock });
});

afterEach(async () => {
  await live.close();
});

const deployment = (name: string) => store.createObject({ apiVersion: "apps/v1", kind: "Deployment", namespace: "default", name, spec: { replicas: 1 } });
const shows = async (name: string) => hasElement(await (await app.request("/")).text(), "tr", `data-workload="Deployment/default/${name}"`);

describe("the overview cache", () => {
  it("keeps the overview until the feed announces a change, and drops it at once, before the coalesced stream message", async () => {
    await deployment("first");
    expect(await shows("first")).toBe(true);
    await deployment("second");
    // Nothing announced yet: the cached overview is served.
    expect(await shows("second")).toBe(false);
    feed.emit("objects");
    // The stream's message waits out its 10 s window; the cache does not.
    expect(await shows("second")).toBe(true);
  });

  it("reads events on every request, and is not dropped by an event", async () => {
    await deployment("first");
    await app.request("/");
    await store.recordEvent({ kind: "Deployment", namespace: "default", name: "first", type: "Warning", reason: "Stalled", message: "fresh event", source: "test" });
    await deployment("second");
    feed.emit("events");
    const html = await (await app.request("/")).text();
    expect(textOf(element(html, "section", `id="events"`))).toContain("fresh event");
    expect(hasElement(html, "tr", `data-workload="Deployment/default/second"`)).toBe(false);
  });

  it("reads again after its maximum age, in case a notification was lost", async () => {
    await app.request("/");
    await deployment("late");
    await clock.advance(4_000);
    expect(await shows("late")).toBe(false);
    await clock.advance(2_000);
    expect(await shows("late")).toBe(true);
  });

  it("keeps nothing once the feed is closed", async () => {
    await app.request("/");
    await live.close();
    await deployment("after-close");
    expect(await shows("after-close")).toBe(true);
  });
});
