import { afterEach, describe, expect, it } from "vitest";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, listen, LiveUpdates, ManualChangeFeed, pgChangeFeed, changeMessageSchema, type ChangeFeed, type RunningServer } from "../../src/status/index.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/** /api/events/stream: one change feed fanned out to every subscriber, coalesced, beating, and ended on close. */

const database = useTestDatabase();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function hub<Feed extends ChangeFeed>(feed: Feed, options: { heartbeatMs?: number; coalesceMs?: number } = {}) {
  const live = await LiveUpdates.start({ feed, ...options });
  cleanups.push(() => live.close());
  const store = new PgDesiredStore(database().pool);
  const app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, live });
  return { live, feed, app, store };
}

/** Reads a stream's text as it arrives, so a test can wait for what it expects with a deadline. */
function reader(body: ReadableStream<Uint8Array>) {
  const stream = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let ended = false;
  const pump = (async () => {
    for (;;) {
      const { done, value } = await stream.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    ended = true;
  })();
  return {
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
    async waitFor(predicate: (text: string) => boolean, withinMs: number): Promise<number> {
      const started = performance.now();
      while (!predicate(text)) {
        if (performance.now() - started > withinMs) throw new Error(`not within ${withinMs} ms; got ${JSON.stringify(text)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return performance.now() - started;
    },
    async ends(withinMs: number): Promise<void> {
      await Promise.race([pump, new Promise((_, reject) => setTimeout(() => reject(new Error(`stream still open after ${withinMs} ms`)), withinMs))]);
    },
    cancel: () => stream.cancel(),
  };
}

const changes = (text: string) =>
  [...text.matchAll(/event: change\ndata: (.*)\n\n/g)].map((match) => changeMessageSchema.parse(JSON.parse(match[1]!)));

async function eventually(check: () => boolean, withinMs: number): Promise<void> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > withinMs) throw new Error(`not within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("GET /api/events/stream", () => {
  it("is an event stream that starts with retry: 1000 and delivers a change within 1 s", async () => {
    const { app, feed } = await hub(new ManualChangeFeed());
    const response = await app.request("/api/events/stream");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(response.headers.get("cache-control")).toContain("no-cache");
    const stream = reader(response.body!);
    cleanups.push(() => stream.cancel());
    await stream.waitFor((text) => text.startsWith("retry: 1000\n\n"), 1000);
    feed.emit("revisions");
    await stream.waitFor((text) => changes(text).length === 1, 1000);
    expect(changes(stream.text)).toEqual([{ channel: "revisions", count: 1 }]);
  });

  it("coalesces a burst into one message per channel for every subscriber", async () => {
    const { app, feed, live } = await hub(new ManualChangeFeed(), { coalesceMs: 100 });
    const streams = await Promise.all([1, 2, 3].map(async () => reader((await app.request("/api/events/stream")).body!)));
    for (const stream of streams) cleanups.push(() => stream.cancel());
    await eventually(() => live.subscriberCount === 3, 1000);
    for (let index = 0; index < 200; index++) feed.emit("objects");
    feed.emit("events");
    for (const stream of streams) {
      await stream.waitFor((text) => changes(text).length >= 2, 1000);
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(changes(stream.text)).toEqual([
        { channel: "objects", count: 200 },
        { channel: "events", count: 1 },
      ]);
    }
  });

  it("sends a heartbeat comment while nothing changes", async () => {
    const { app } = await hub(new ManualChangeFeed(), { heartbeatMs: 50 });
    const stream = reader((await app.request("/api/events/stream")).body!);
    cleanups.push(() => stream.cancel());
    await stream.waitFor((text) => (text.match(/^: heartbeat$/gm) ?? []).length >= 2, 2000);
  });

  it("forgets a subscriber that disconnects", async () => {
    const { app, live, feed } = await hub(new ManualChangeFeed());
    const leaving = reader((await app.request("/api/events/stream")).body!);
    const staying = reader((await app.request("/api/events/stream")).body!);
    cleanups.push(() => staying.cancel());
    await eventually(() => live.subscriberCount === 2, 1000);
    await leaving.cancel();
    await eventually(() => live.subscriberCount === 1, 1000);
    feed.emit("objects");
    await staying.waitFor((text) => changes(text).length === 1, 1000);
  });

  it("ends every open stream on close, and a stream opened after close ends at once", async () => {
    const { app, live } = await hub(new ManualChangeFeed());
    const streams = [reader((await app.request("/api/events/stream")).body!), reader((await app.request("/api/events/stream")).body!)];
    await eventually(() => live.subscriberCount === 2, 1000);
    await live.close();
    for (const stream of streams) await stream.ends(1000);
    expect(live.subscriberCount).toBe(0);
    await reader((await app.request("/api/events/stream")).body!).ends(1000);
  });

  it("lets the HTTP server close promptly with browsers connected", async () => {
    const { app, live } = await hub(new ManualChangeFeed());
    let server: RunningServer | undefined = await listen(app, "127.0.0.1", 0);
    cleanups.push(async () => void (await server?.close()));
    const response = await fetch(`${server.url}/api/events/stream`);
    const stream = reader(response.body!);
    await stream.waitFor((text) => text.includes("retry: 1000"), 2000);
    await eventually(() => live.subscriberCount === 1, 1000);
    const started = performance.now();
    await live.close();
    await server.close();
    server = undefined;
    expect(performance.now() - started).toBeLessThan(2000);
    await stream.ends(2000);
  });

  it("answers 404 where no live updates are wired", async () => {
    const app = createStatusApp({ store: new PgDesiredStore(database().pool), log: silentLogger, storeReachable: async () => true });
    expect((await app.request("/api/events/stream")).status).toBe(404);
  });
});

describe("the PostgreSQL change feed", () => {
  it("turns a store write into an event: change within 1 s, over one LISTEN connection however many subscribe", async () => {
    const store = new PgDesiredStore(database().pool);
    const countListeners = async () =>
      Number((await database().pool.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'capstan-listen' AND datname = current_database()")).rows[0].count);
    const { app } = await hub(pgChangeFeed({ databaseUrl: database().url, store }));
    const streams = await Promise.all([1, 2, 3, 4].map(async () => reader((await app.request("/api/events/stream")).body!)));
    for (const stream of streams) cleanups.push(() => stream.cancel());
    await streams[0]!.waitFor((text) => text.includes("retry: 1000"), 1000);
    expect(await countListeners()).toBe(1);

    const written = performance.now();
    await store.recordEvent({ kind: "Deployment", namespace: "default", name: "web", type: "Normal", reason: "Scaled", message: "scaled up", source: "test" });
    for (const stream of streams) await stream.waitFor((text) => changes(text).some((change) => change.channel === "events"), 1000);
    expect(performance.now() - written).toBeLessThan(1000);

    await store.createObject({ apiVersion: "v1", kind: "ConfigMap", namespace: "default", name: "app", spec: {} });
    await streams[0]!.waitFor((text) => changes(text).some((change) => change.channel === "objects"), 1000);
  });

  it("reports every channel changed after its LISTEN connection was lost and re-established (what was missed is unknown)", async () => {
    const store = new PgDesiredStore(database().pool);
    const { app } = await hub(pgChangeFeed({ databaseUrl: database().url, store }));
    const stream = reader((await app.request("/api/events/stream")).body!);
    cleanups.push(() => stream.cancel());
    await stream.waitFor((text) => text.includes("retry: 1000"), 1000);
    await database().pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'capstan-listen' AND datname = current_database()");
    await stream.waitFor((text) => new Set(changes(text).map((change) => change.channel)).size === 4, 10_000);
    // And it listens again.
    await store.recordEvent({ kind: "Node", namespace: "", name: "n", type: "Normal", reason: "Seen", message: "after reconnect", source: "test" });
    await stream.waitFor((text) => changes(text).filter((change) => change.channel === "events").length === 2, 2000);
  });

  it("reports a change of the sync state, which has no trigger, by reading it", async () => {
    const store = new PgDesiredStore(database().pool);
    const { app } = await hub(pgChangeFeed({ databaseUrl: database().url, store, syncPollMs: 50 }));
    const stream = reader((await app.request("/api/events/stream")).body!);
    cleanups.push(() => stream.cancel());
    await stream.waitFor((text) => text.includes("retry: 1000"), 1000);
    await store.recordFetch({ url: "https://git.example.com/x.git", branch: "main", path: "", at: new Date(), error: "unreachable" });
    await stream.waitFor((text) => changes(text).some((change) => change.channel === "sync"), 1000);
  });
});
