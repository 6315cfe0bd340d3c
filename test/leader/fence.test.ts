import { beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore } from "../../src/desired/index.ts";
import type { DesiredStore } from "../../src/desired/index.ts";
import { LostLeadershipError } from "../../src/errors.ts";
import { LeaseFence, releaseLease, tryAcquireOrRenew } from "../../src/leader/index.ts";
import { describeDesiredStore } from "../desired/store.suite.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();
const lease = "control-plane";

async function emptyStoreAndLease(): Promise<void> {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, leader_lease RESTART IDENTITY CASCADE");
}

/** The term the given replica now holds. */
async function acquire(replica: string): Promise<number> {
  const outcome = await tryAcquireOrRenew(database().pool, { lease, replica, url: null, leaseMs: 60_000, heldToken: null });
  if (outcome.type !== "mine") throw new Error(`${replica} could not acquire: ${JSON.stringify(outcome)}`);
  return outcome.token;
}

// The fence must not change what a store does while its term lasts: the whole shared suite, behind it.
describeDesiredStore("PostgreSQL behind the fence of a held lease", async () => {
  await emptyStoreAndLease();
  const token = await acquire("leader");
  return new PgDesiredStore(database().pool, { writeGuard: new LeaseFence(lease, token, () => {}) });
});

const commit = (sha: string) => ({ sha, parentSha: null, authorName: "A", authorEmail: "a@example.com", message: sha, committedAt: new Date("2026-01-01T00:00:00Z") });
const configMap = (name: string, value: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  namespace: "default",
  name,
  labels: {},
  annotations: {},
  spec: { data: { v: value } },
  source: { file: `${name}.yaml`, line: 1, column: 1 },
});
const appKey = { kind: "ConfigMap", namespace: "default", name: "app" };

/** Every row of every table the store writes, to show that a refused write changed none. */
async function everything(): Promise<unknown> {
  const tables = ["revisions", "objects", "events", "sync_state", "leader_lease"];
  const rows: Record<string, unknown> = {};
  for (const table of tables) rows[table] = (await database().pool.query(`SELECT * FROM ${table} ORDER BY 1`)).rows;
  return JSON.parse(JSON.stringify(rows));
}

describe("a write of a term that is over", () => {
  let oldLeader: DesiredStore;
  const refusals: LostLeadershipError[] = [];

  beforeEach(async () => {
    await emptyStoreAndLease();
    refusals.length = 0;
    const oldToken = await acquire("old");
    oldLeader = new PgDesiredStore(database().pool, { writeGuard: new LeaseFence(lease, oldToken, (error) => refusals.push(error)) });
    // Written while the old term was live: something for the stale writes to try to change.
    await oldLeader.applyRevision(commit("c1"), [configMap("app", "one")], []);
    await oldLeader.createObject({ apiVersion: "v1", kind: "Pod", namespace: "default", name: "p", spec: { containers: [] } });
    await oldLeader.recordEvent({ objectUid: null, kind: "Pod", namespace: "default", name: "p", type: "Normal", reason: "Seen", message: "m", source: "t" });
    // The old leader is paused; its lease runs out and another replica takes over.
    await releaseLease(database().pool, lease, "old", oldToken);
    await acquire("new");
  });

  const writes: Array<[string, (store: DesiredStore) => Promise<unknown>]> = [
    ["applyRevision", (store) => store.applyRevision(commit("c2"), [configMap("app", "two")], [])],
    ["rejectRevision", (store) => store.rejectRevision(commit("c3"), [])],
    ["supersedeRevisions", (store) => store.supersedeRevisions([commit("c4")])],
    ["createObject", (store) => store.createObject({ apiVersion: "v1", kind: "Pod", namespace: "default", name: "q", spec: { containers: [] } })],
    ["updateObject", async (store) => store.updateObject(appKey, (await store.getObject(appKey))!.resourceVersion, { labels: { a: "b" } })],
    ["deleteObject", (store) => store.deleteObject(appKey)],
    ["updateStatuses", (store) => store.updateStatuses([{ key: appKey, status: { phase: "Stale" } }])],
    ["recordEvent", (store) => store.recordEvent({ objectUid: null, kind: "Pod", namespace: "default", name: "p", type: "Warning", reason: "Late", message: "m", source: "t" })],
    ["purgeEvents", (store) => store.purgeEvents(new Date("2100-01-01T00:00:00Z"))],
    ["purgeDeleted", (store) => store.purgeDeleted(new Date("2100-01-01T00:00:00Z"))],
    [
      "purgeObject",
      async (store) => {
        const pod = (await store.getObject({ kind: "Pod", namespace: "default", name: "p" }))!;
        return store.purgeObject(pod.uid);
      },
    ],
    ["recordFetch", (store) => store.recordFetch({ url: "u", branch: "main", path: "", at: new Date(), error: "late" })],
  ];

  it.each(writes)("%s fails with LostLeadershipError and changes nothing", async (_name, write) => {
    const before = await everything();
    const error = await write(oldLeader).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(LostLeadershipError);
    expect(error).toMatchObject({ heldToken: 1, currentToken: 2, currentHolder: "new", code: "LostLeadership" });
    expect(await everything()).toEqual(before);
    expect(refusals).toHaveLength(1);
  });

  it("the new term's writes go through", async () => {
    const newLeader = new PgDesiredStore(database().pool, { writeGuard: new LeaseFence(lease, 2, () => {}) });
    await newLeader.updateStatuses([{ key: appKey, status: { phase: "Fresh" } }]);
    expect((await newLeader.getObject(appKey))?.status).toEqual({ phase: "Fresh" });
  });
});

describe("the fence's lock", () => {
  beforeEach(emptyStoreAndLease);

  it("makes an acquisition wait for a write transaction that passed the fence, so no old write commits after a new term begins", async () => {
    const token = await acquire("old");
    await database().pool.query("UPDATE leader_lease SET renewed_at = now() - interval '1 hour'");
    const writer = await database().pool.connect();
    try {
      await writer.query("BEGIN");
      await new LeaseFence(lease, token, () => {}).check(writer);
      let acquired = false;
      const takeover = tryAcquireOrRenew(database().pool, { lease, replica: "new", url: null, leaseMs: 60_000, heldToken: null }).then((outcome) => {
        acquired = true;
        return outcome;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(acquired).toBe(false);
      await writer.query("COMMIT");
      expect(await takeover).toMatchObject({ type: "mine", token: token + 1 });
    } finally {
      writer.release();
    }
  });

  it("lets the holder renew while its write transactions hold the lock", async () => {
    const token = await acquire("leader");
    const writer = await database().pool.connect();
    try {
      await writer.query("BEGIN");
      await new LeaseFence(lease, token, () => {}).check(writer);
      const renewal = await tryAcquireOrRenew(database().pool, { lease, replica: "leader", url: null, leaseMs: 60_000, heldToken: token });
      expect(renewal).toMatchObject({ type: "mine", token });
      await writer.query("COMMIT");
    } finally {
      writer.release();
    }
  });
});
