import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, type NewEvent } from "../../src/desired/index.ts";
import { createLogger } from "../../src/logging.ts";
import { startNotifications, verifySignature, type Notifications, type RetryPolicy } from "../../src/notifications/index.ts";
import { eventually } from "../helpers/eventually.ts";
import { useOwnServerDatabase } from "../helpers/test-database.ts";
import { applyManifests, notifierYaml, Receiver, secretYaml } from "./fixtures.ts";

/**
 * Deliveries end to end: real PostgreSQL, real HTTP to receivers on
 * 127.0.0.1, the real clock. Facts are recorded as the controllers record
 * them (store.recordEvent, rejectRevision); the service dispatches and posts.
 */

// A server of this file's own: the outbox's cursor waits for every transaction open on the server, and
// other files' transactions on the shared test server would stretch the timing the outage case checks.
const database = useOwnServerDatabase();
const hmacKey = "k3y-that-must-never-leak-0123456789";
// Short back-off so the 30 s outage is retried often and the test ends soon after.
const fastRetries: RetryPolicy = { backoff: { initialMs: 200, maxMs: 2_000, jitter: 0.5 }, maxAttempts: 1_000, giveUpAfterMs: 10 * 60_000 };

let store: PgDesiredStore;
let receivers: Receiver[] = [];
let running: Notifications[] = [];
let logs: string;

function start(options: { timeoutMs?: number } = {}): Promise<Notifications> {
  const stream = new PassThrough();
  stream.on("data", (chunk: Buffer) => (logs += chunk.toString("utf8")));
  const { pool, url } = database();
  return startNotifications({
    pool,
    databaseUrl: url,
    store,
    clock: systemClock,
    log: createLogger({ level: "debug", destination: stream }),
    policy: fastRetries,
    timeoutMs: options.timeoutMs ?? 5_000,
    dispatchIntervalMs: 500,
  }).then((service) => {
    running.push(service);
    return service;
  });
}

async function receiver(): Promise<Receiver> {
  const created = new Receiver();
  await created.up();
  receivers.push(created);
  return created;
}

const rolloutComplete = (name: string): NewEvent => ({
  kind: "Deployment",
  namespace: "default",
  name,
  type: "Normal",
  reason: "RolloutComplete",
  message: `Rollout of commit abc1234 complete (${name})`,
  source: "rollout-tracker",
});

async function outboxRows() {
  const result = await database().pool.query("SELECT notifier_name, idempotency_key, state, attempts, last_error, last_status FROM notification_deliveries ORDER BY id");
  return result.rows as { notifier_name: string; idempotency_key: string; state: string; attempts: number; last_error: string | null; last_status: number | null }[];
}

beforeEach(async () => {
  const { pool } = database();
  await pool.query("TRUNCATE revisions, objects, events, rollouts, notification_deliveries RESTART IDENTITY CASCADE");
  await pool.query("UPDATE notification_cursor SET horizon = pg_current_xact_id()");
  store = new PgDesiredStore(pool);
  logs = "";
});

afterEach(async () => {
  for (const service of running) await service.stop();
  for (const created of receivers) await created.down();
  running = [];
  receivers = [];
});

describe("webhook deliveries", () => {
  it("posts json signed with the Secret's key; the receiver's recomputed HMAC matches; no key or URL token in logs or events", async () => {
    const hook = await receiver();
    await applyManifests(store, notifierYaml("ops", hook.url, ["secretRef: {name: hook-key, key: hmac}"]), secretYaml("hook-key", "hmac", hmacKey));
    await start();
    await store.recordEvent(rolloutComplete("web"));

    const [request] = await eventually(() => {
      expect(hook.requests).toHaveLength(1);
      return hook.requests;
    });
    expect(request!.path).toBe("/hook/secret-path-token");
    expect(request!.headers).toMatchObject({ "content-type": "application/json", "user-agent": "capstan" });
    expect(verifySignature(Buffer.from(hmacKey), request!.body, request!.headers["x-capstan-signature"] as string)).toBe(true);
    expect(verifySignature(Buffer.from("another key"), request!.body, request!.headers["x-capstan-signature"] as string)).toBe(false);
    const body = JSON.parse(request!.body);
    expect(body).toEqual({
      type: "RolloutComplete",
      idempotencyKey: request!.headers["idempotency-key"],
      object: { kind: "Deployment", namespace: "default", name: "web" },
      revision: null,
      message: "Rollout of commit abc1234 complete (web)",
      reason: "RolloutComplete",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(body.idempotencyKey).toMatch(/^event-\d+-\d+-1$/);
    await eventually(async () => expect(await outboxRows()).toMatchObject([{ state: "delivered", attempts: 1, last_status: 200, last_error: null }]));

    expect(logs).toContain("notification delivered");
    expect(logs).not.toContain(hmacKey);
    expect(logs).not.toContain("secret-path-token");
    expect(request!.body).not.toContain(hmacKey);
  });

  it("posts slack messages: text and a section block naming the type, object, commit and message", async () => {
    const hook = await receiver();
    await applyManifests(store, notifierYaml("chat", hook.url, ["format: slack", "events: [CommitRejected]"]));
    await start();
    await store.recordEvent(rolloutComplete("web")); // not asked for
    await store.rejectRevision(
      { sha: "c0ffee".padEnd(40, "0"), parentSha: null, authorName: "t", authorEmail: "t@x", message: "bad", committedAt: new Date() },
      [{ file: "apps/web.yaml", line: 7, column: 3, path: "spec.replicas", message: "must be an integer <b>", severity: "error" }],
    );
    await eventually(() => expect(hook.requests).toHaveLength(1));
    const body = JSON.parse(hook.requests[0]!.body);
    expect(body.text).toBe(`:no_entry: CommitRejected: Revision ${"c0ffee".padEnd(40, "0")} (commit c0ffee0): Commit c0ffee0 rejected: apps/web.yaml:7: must be an integer <b>`);
    expect(body.blocks).toEqual([{ type: "section", text: { type: "mrkdwn", text: expect.stringContaining("apps/web.yaml:7: must be an integer &lt;b&gt;") } }]);
    expect(hook.requests[0]!.headers["x-capstan-signature"]).toBeUndefined();
    // Only the asked-for type came; give a stray one time to show up.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(hook.requests).toHaveLength(1);
  });

  it("a 4xx answer fails the delivery for good at once, with a Warning event on the Notifier that names no URL token", async () => {
    const hook = await receiver();
    hook.mode = { answer: 404 };
    await applyManifests(store, notifierYaml("gone", hook.url));
    await start();
    await store.recordEvent(rolloutComplete("web"));
    await eventually(async () => expect(await outboxRows()).toMatchObject([{ state: "failed", attempts: 1, last_status: 404, last_error: "HTTP 404 Not Found: not now: POST [redacted]" }]));
    const events = await eventually(async () => {
      const found = await store.listEvents({ kind: "Notifier", name: "gone" });
      expect(found).toHaveLength(1);
      return found;
    });
    expect(events[0]).toMatchObject({ type: "Warning", reason: "DeliveryFailed" });
    expect(events[0]!.message).toContain("http://127.0.0.1:");
    expect(events[0]!.message).not.toContain("secret-path-token");
    expect(hook.requests).toHaveLength(1);
  });

  it(
    "receiver refused for 15 s then answering 503 for 15 s, with a capstan restart in the middle: every fact delivered, exactly once per key",
    async () => {
      const hook = await receiver();
      await applyManifests(store, notifierYaml("ops", hook.url, ["secretRef: {name: hook-key, key: hmac}"]), secretYaml("hook-key", "hmac", hmacKey));
      let service = await start();
      const names: string[] = [];
      const record = async (name: string) => {
        names.push(name);
        await store.recordEvent(rolloutComplete(name));
      };
      await record("before-outage");
      await eventually(() => expect(hook.requests).toHaveLength(1));

      const outageStarted = Date.now();
      await hook.down();
      for (let index = 0; index < 4; index++) await record(`refused-${index}`);
      await new Promise((resolve) => setTimeout(resolve, 7_000));

      // Restart mid-way: the old service stops (facts recorded meanwhile wait in the events table), a new one takes over the same database.
      await service.stop();
      for (let index = 0; index < 3; index++) await record(`while-stopped-${index}`);
      service = await start();
      await new Promise((resolve) => setTimeout(resolve, 15_000 - (Date.now() - outageStarted)));

      hook.mode = { answer: 503 };
      await hook.up();
      for (let index = 0; index < 2; index++) await record(`unavailable-${index}`);
      await new Promise((resolve) => setTimeout(resolve, 30_000 - (Date.now() - outageStarted)));
      hook.mode = { answer: 200 };

      const rows = await eventually(async () => {
        const current = await outboxRows();
        expect(current).toHaveLength(names.length);
        expect(current.filter((row) => row.state !== "delivered")).toEqual([]);
        return current;
      }, 20_000);

      const delivered = new Map<string, number>();
      for (const request of hook.requests) {
        expect(verifySignature(Buffer.from(hmacKey), request.body, request.headers["x-capstan-signature"] as string)).toBe(true);
        if (request.status !== 200) continue;
        const key = String(request.headers["idempotency-key"]);
        delivered.set(key, (delivered.get(key) ?? 0) + 1);
      }
      // Every fact's key reached the receiver while it answered 200, once: none lost, none doubled.
      expect([...delivered.keys()].sort()).toEqual(rows.map((row) => row.idempotency_key).sort());
      expect([...delivered.values()].every((count) => count === 1)).toBe(true);
      const named = new Set(hook.requests.map((request) => JSON.parse(request.body).object.name));
      expect([...named].sort()).toEqual([...names].sort());
      // The outage was retried, not waited out: facts recorded during it took several attempts.
      expect(rows.filter((row) => row.attempts > 1).length).toBeGreaterThanOrEqual(names.length - 1);
      expect(hook.requests.filter((request) => request.status === 503).length).toBeGreaterThan(0);
    },
    75_000,
  );

  it("a hanging receiver holds up neither recording facts, nor another Notifier's delivery, nor stopping; its delivery is handed back and sent later", async () => {
    const slow = await receiver();
    slow.mode = { hang: true };
    const fast = await receiver();
    await applyManifests(store, notifierYaml("slow", slow.url), notifierYaml("fast", fast.url));
    // A post timeout far beyond the bounds below: only aborting, not timing out, can meet them.
    const first = await start({ timeoutMs: 60_000 });
    await store.recordEvent(rolloutComplete("web"));
    await eventually(() => expect(slow.requests).toHaveLength(1));

    // While the slow post hangs: new facts are recorded at once and the healthy receiver gets everything.
    const recordStarted = Date.now();
    await store.recordEvent(rolloutComplete("api"));
    expect(Date.now() - recordStarted).toBeLessThan(1_000);
    await eventually(() => expect(new Set(fast.requests.map((request) => JSON.parse(request.body).object.name))).toEqual(new Set(["web", "api"])), 4_000);

    const stopStarted = Date.now();
    await first.stop();
    expect(Date.now() - stopStarted).toBeLessThan(5_000);
    running = running.filter((service) => service !== first);
    const slowRows = (await outboxRows()).filter((row) => row.notifier_name === "slow");
    expect(slowRows.map((row) => [row.state, row.attempts])).toEqual([
      ["pending", 0],
      ["pending", 0],
    ]);

    slow.mode = { answer: 200 };
    await start();
    await eventually(async () => expect((await outboxRows()).every((row) => row.state === "delivered")).toBe(true));
    const slowKeys = slow.byKey();
    expect(slowKeys.size).toBe(2);
  }, 30_000);

  it("two workers on one database (an old leader overlapping a new one) post each delivery once", async () => {
    const hook = await receiver();
    await applyManifests(store, notifierYaml("a", hook.url), notifierYaml("b", hook.url), notifierYaml("c", hook.url));
    await Promise.all([start(), start()]);
    for (let index = 0; index < 15; index++) await store.recordEvent(rolloutComplete(`web-${index}`));
    await eventually(async () => {
      const rows = await outboxRows();
      expect(rows).toHaveLength(45);
      expect(rows.every((row) => row.state === "delivered" && row.attempts === 1)).toBe(true);
    }, 20_000);
    // Each (notifier, key) once: the same key goes to three Notifiers, all at this one receiver.
    expect(hook.requests).toHaveLength(45);
    expect([...hook.byKey().values()].every((requests) => requests.length === 3)).toBe(true);
  }, 30_000);

  it("a receiver that never answers is timed out and retried, not waited on", async () => {
    const slow = await receiver();
    slow.mode = { hang: true };
    await applyManifests(store, notifierYaml("slow", slow.url));
    await start({ timeoutMs: 300 });
    await store.recordEvent(rolloutComplete("web"));
    await eventually(async () => expect((await outboxRows())[0]).toMatchObject({ state: "pending", attempts: 1, last_error: "no answer within 300 ms", last_status: null }));
    slow.mode = { answer: 200 };
    await eventually(async () => expect((await outboxRows())[0]).toMatchObject({ state: "delivered", last_status: 200 }), 10_000);
    // At least once: the timed-out request may have reached it too; the key tells them apart.
    expect([...slow.byKey().keys()]).toHaveLength(1);
  });
});
