import { beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore, type NewEvent } from "../../src/desired/index.ts";
import { PgNotificationOutbox } from "../../src/notifications/index.ts";
import { eventually } from "../helpers/eventually.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { applyManifests, notifierYaml } from "./fixtures.ts";

/**
 * The dispatcher's half on real PostgreSQL: which stored facts become
 * deliveries for which Notifier, once each, behind a cursor that survives a
 * restart and never skips a fact whose transaction commits late.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
let outbox: PgNotificationOutbox;

const event = (reason: string, overrides: Partial<NewEvent> = {}): NewEvent => ({
  kind: "Deployment",
  namespace: "shop",
  name: "web",
  type: reason === "RolloutFailed" ? "Warning" : "Normal",
  reason,
  message: `${reason} happened`,
  source: "test",
  ...overrides,
});

/**
 * Dispatches until `expected` deliveries were added. The horizon is the
 * server's oldest open transaction, in any database: another test file's
 * transaction on the shared test server can hold it back for a moment.
 */
async function dispatchAll(expected: number, using: PgNotificationOutbox = outbox): Promise<void> {
  let added = 0;
  await eventually(async () => {
    added += await using.dispatch();
    expect(added).toBe(expected);
  });
}

async function deliveries(): Promise<{ notifier: string; type: string; key: string }[]> {
  const rows = await outbox.list({ limit: 500 });
  return rows.map((row) => ({ notifier: row.notifier.name, type: row.type, key: row.idempotencyKey })).sort((a, b) => (a.notifier + a.key).localeCompare(b.notifier + b.key));
}

beforeEach(async () => {
  const { pool } = database();
  await pool.query("TRUNCATE revisions, objects, events, rollouts, notification_deliveries RESTART IDENTITY CASCADE");
  // Facts from earlier tests are history: start each test's cursor at now.
  await pool.query("UPDATE notification_cursor SET horizon = pg_current_xact_id()");
  store = new PgDesiredStore(pool);
  outbox = new PgNotificationOutbox(pool);
});

describe("dispatching stored facts into the outbox", () => {
  it("enqueues each notifiable fact once per Notifier that wants it, and nothing else", async () => {
    await applyManifests(
      store,
      notifierYaml("all", "http://127.0.0.1:1/all"),
      notifierYaml("picky", "http://127.0.0.1:1/picky", ["events: [RolloutFailed, NodeNotReady]", "namespaces: [other]"]),
      notifierYaml("paused", "http://127.0.0.1:1/paused", ["suspend: true"]),
    );
    const { pool } = database();
    await pool.query("INSERT INTO rollouts (revision_sha, kind, namespace, name, generation, outcome, finished_at, reverted_by) VALUES ($1, 'Deployment', 'shop', 'web', 2, 'failed', now(), $2)", ["a".repeat(40), "d".repeat(40)]);
    await store.recordEvent(event("RolloutFailed"));
    await store.recordEvent(event("AutoReverted"));
    await store.recordEvent(event("ScalingReplicaSet"));
    await store.recordEvent(event("NodeNotReady", { kind: "Node", namespace: "", name: "n1", type: "Warning" }));
    await store.recordEvent(event("SawCompletedJob", { kind: "CronJob", name: "report", type: "Warning" }));
    await store.recordEvent(event("SawCompletedJob", { kind: "CronJob", name: "backup", type: "Normal" }));
    await store.rejectRevision(
      { sha: "b".repeat(40), parentSha: null, authorName: "t", authorEmail: "t@x", message: "bad", committedAt: new Date() },
      [{ file: "web.yaml", line: 3, column: 1, path: "spec", message: "is broken", severity: "error" }],
    );

    await dispatchAll(6);
    const rows = await outbox.list({ limit: 50 });
    expect((await deliveries()).map(({ notifier, type }) => `${notifier} ${type}`).sort()).toEqual(
      ["all AutoRevertPushed", "all CommitRejected", "all CronJobRunFailed", "all NodeNotReady", "all RolloutFailed", "picky NodeNotReady"].sort(),
    );
    expect(rows.find((row) => row.type === "AutoRevertPushed")!.notification).toMatchObject({ reason: "AutoReverted", revision: "d".repeat(40) });
    const rolloutFailed = rows.find((row) => row.type === "RolloutFailed")!;
    expect(rolloutFailed.notification).toMatchObject({ object: { kind: "Deployment", namespace: "shop", name: "web" }, revision: "a".repeat(40), reason: "RolloutFailed", message: "RolloutFailed happened" });
    expect(rows.find((row) => row.type === "CommitRejected")!.notification).toMatchObject({
      revision: "b".repeat(40),
      message: `Commit bbbbbbb rejected: web.yaml:3: is broken`,
      idempotencyKey: `commit-rejected-${"b".repeat(40)}`,
    });
    expect(rows.every((row) => row.state === "pending" && row.attempts === 0)).toBe(true);

    // Seen once, enqueued once.
    expect(await outbox.dispatch()).toBe(0);
    expect(await outbox.list({ limit: 50 })).toHaveLength(6);
  });

  it("a repeat of a folded event is a new occurrence with its own key; a restarted dispatcher resumes at the stored cursor", async () => {
    await applyManifests(store, notifierYaml("all", "http://127.0.0.1:1/all"));
    await store.recordEvent(event("RolloutFailed"));
    await dispatchAll(1);
    await store.recordEvent(event("RolloutFailed")); // same row, count 2
    const restarted = new PgNotificationOutbox(database().pool);
    await dispatchAll(1, restarted);
    expect(await restarted.dispatch()).toBe(0);
    const keys = (await deliveries()).map((row) => row.key);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
    expect(keys.every((key) => /^event-1-\d+-[12]$/.test(key))).toBe(true);
  });

  it("never skips a fact whose transaction began earlier and commits later than another", async () => {
    await applyManifests(store, notifierYaml("all", "http://127.0.0.1:1/all"));
    const slow = await database().pool.connect();
    try {
      await slow.query("BEGIN");
      await slow.query("SELECT record_event(NULL, 'Deployment', 'shop', 'slow', 'Normal', 'RolloutComplete', 'slow one', 'test')");
      await store.recordEvent(event("RolloutComplete", { name: "fast", message: "fast one" }));
      // The fast fact is committed, but the slow transaction's may still come below it: wait for both.
      expect(await outbox.dispatch()).toBe(0);
      await slow.query("COMMIT");
    } finally {
      slow.release();
    }
    await dispatchAll(2);
    expect((await outbox.list({ limit: 10 })).map((row) => row.notification.object.name).sort()).toEqual(["fast", "slow"]);
  });

  it("an idle pass writes nothing: the cursor moves for news (or now and then), not on every pass", async () => {
    await applyManifests(store, notifierYaml("all", "http://127.0.0.1:1/all"));
    const cursor = async () => (await database().pool.query("SELECT horizon::text FROM notification_cursor")).rows[0].horizon as string;
    await outbox.dispatch();
    const first = await cursor();
    await store.recordEvent(event("ScalingReplicaSet"));
    expect(await outbox.dispatch()).toBe(0);
    expect(await cursor()).toBe(first);
    await store.recordEvent(event("RolloutComplete"));
    await dispatchAll(1);
    const second = await cursor();
    expect(BigInt(second)).toBeGreaterThan(BigInt(first));

    // Without news the cursor still moves once a minute, so the range a pass scans stays short.
    let now = Date.parse("2026-01-01T00:00:00Z");
    const paced = new PgNotificationOutbox(database().pool, { clock: { now: () => new Date(now) } });
    await store.recordEvent(event("ScalingReplicaSet", { message: "again" }));
    expect(await paced.dispatch()).toBe(0);
    expect(await cursor()).toBe(second);
    now += 61_000;
    await eventually(async () => {
      expect(await paced.dispatch()).toBe(0);
      expect(BigInt(await cursor())).toBeGreaterThan(BigInt(second));
    });
  });

  it("two dispatchers at once enqueue each fact once", async () => {
    await applyManifests(store, notifierYaml("all", "http://127.0.0.1:1/all"));
    for (let index = 0; index < 20; index++) await store.recordEvent(event("RolloutComplete", { name: `web-${index}` }));
    const other = new PgNotificationOutbox(database().pool);
    const added = await Promise.all([outbox.dispatch(), other.dispatch(), outbox.dispatch(), other.dispatch()]);
    await dispatchAll(20 - added.reduce((sum, count) => sum + count, 0));
    expect(await outbox.list({ limit: 100 })).toHaveLength(20);
  });
});
