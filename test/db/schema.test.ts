import { afterEach, describe, expect, it } from "vitest";
import { channels, listen, type Listener } from "../../src/db/index.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();

const listeners: Listener[] = [];
afterEach(async () => {
  while (listeners.length > 0) await listeners.pop()!.close();
});

interface ObjectRow {
  uid: string;
  resource_version: string;
  generation: string;
  created_at: Date;
  updated_at: Date;
}

async function insertObject(name: string, fields: { kind?: string; namespace?: string } = {}): Promise<ObjectRow> {
  const result = await database().pool.query<ObjectRow>(
    `INSERT INTO objects (kind, namespace, name, api_version, spec, spec_hash, source)
     VALUES ($1, $2, $3, 'apps/v1', '{"replicas": 1}', 'hash-1', 'git') RETURNING *`,
    [fields.kind ?? "Deployment", fields.namespace ?? "default", name],
  );
  return result.rows[0]!;
}

async function updateObject(uid: string, assignment: string): Promise<ObjectRow> {
  const result = await database().pool.query<ObjectRow>(`UPDATE objects SET ${assignment} WHERE uid = $1 RETURNING *`, [uid]);
  return result.rows[0]!;
}

/** Collects notifications and lets a test wait for the first that matches. */
function inbox() {
  const received: Array<{ channel: string; payload: Record<string, unknown> }> = [];
  const waiters: Array<() => void> = [];
  return {
    received,
    deliver(channel: string, payload: string): void {
      received.push({ channel, payload: JSON.parse(payload) });
      for (const wake of waiters.splice(0)) wake();
    },
    async next(match: (payload: Record<string, unknown>) => boolean, timeoutMs = 5_000): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = received.find((message) => match(message.payload));
        if (found) return found.payload;
        if (Date.now() > deadline) throw new Error(`no matching notification; got ${JSON.stringify(received)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
  };
}

describe("objects", () => {
  it("allows one live object per (kind, namespace, name), and the name again once it is soft-deleted", async () => {
    const first = await insertObject("web");

    await expect(insertObject("web")).rejects.toMatchObject({ code: "23505", constraint: "objects_live_key" });

    await updateObject(first.uid, "deleted_at = now()");
    const second = await insertObject("web");
    expect(second.uid).not.toBe(first.uid);
    const rows = await database().pool.query("SELECT count(*)::int AS n FROM objects WHERE name = 'web'");
    expect(rows.rows[0].n).toBe(2);
  });

  it("keeps the same name apart across kinds and namespaces", async () => {
    await insertObject("shared", { kind: "Service", namespace: "a" });
    await insertObject("shared", { kind: "Service", namespace: "b" });
    await insertObject("shared", { kind: "ConfigMap", namespace: "a" });
    await insertObject("shared", { kind: "Namespace", namespace: "" });

    const rows = await database().pool.query("SELECT count(*)::int AS n FROM objects WHERE name = 'shared'");
    expect(rows.rows[0].n).toBe(4);
  });

  it("stamps a new, larger resource_version and updated_at on every write, across all objects", async () => {
    const created = await insertObject("api");
    const other = await insertObject("worker");
    const statusWrite = await updateObject(created.uid, `status = '{"readyReplicas": 1}'`);
    const noOpWrite = await updateObject(created.uid, "status = status");
    // Even a caller that tries to set it cannot hold the version back.
    const forced = await updateObject(created.uid, "resource_version = 1");

    const versions = [created, other, statusWrite, noOpWrite, forced].map((row) => BigInt(row.resource_version));
    expect([...versions].sort((a, b) => (a < b ? -1 : 1))).toEqual(versions);
    expect(new Set(versions).size).toBe(versions.length);
    expect(forced.updated_at.getTime()).toBeGreaterThanOrEqual(created.updated_at.getTime());
    expect(forced.created_at).toEqual(created.created_at);
  });

  it("refuses to change an object's identity", async () => {
    const object = await insertObject("frontend");

    await expect(updateObject(object.uid, "name = 'backend'")).rejects.toThrow(/identity of object .* cannot change/);
    await expect(updateObject(object.uid, "namespace = 'other'")).rejects.toThrow(/cannot change/);
  });

  it("refuses unknown sources and empty names", async () => {
    const pool = database().pool;
    await expect(
      pool.query(`INSERT INTO objects (kind, name, api_version, spec_hash, source) VALUES ('Pod', 'p', 'v1', 'h', 'user')`),
    ).rejects.toMatchObject({ code: "23514" });
    await expect(
      pool.query(`INSERT INTO objects (kind, name, api_version, spec_hash, source) VALUES ('Pod', '', 'v1', 'h', 'git')`),
    ).rejects.toMatchObject({ code: "23514" });
  });

  it("notifies capstan_objects with the key, uid, resource version and operation of every write", async () => {
    const messages = inbox();
    listeners.push(await listen(database().url, [channels.objects], messages.deliver));

    const object = await insertObject("notified");
    const inserted = await messages.next((payload) => payload.name === "notified" && payload.op === "INSERT");
    expect(inserted).toEqual({
      kind: "Deployment",
      namespace: "default",
      name: "notified",
      uid: object.uid,
      ownerUid: null,
      resourceVersion: Number(object.resource_version),
      op: "INSERT",
      deleted: false,
      statusOnly: false,
    });

    await updateObject(object.uid, `status = '{"phase":"Running"}'`);
    expect(await messages.next((payload) => payload.name === "notified" && payload.op === "UPDATE")).toMatchObject({
      statusOnly: true,
      deleted: false,
    });
    await updateObject(object.uid, `spec = '{"replicas":2}'`);
    expect(
      await messages.next((payload) => payload.name === "notified" && payload.op === "UPDATE" && payload.statusOnly === false),
    ).toMatchObject({ deleted: false });

    const softDeleted = await updateObject(object.uid, "deleted_at = now()");
    const update = await messages.next((payload) => payload.name === "notified" && payload.op === "UPDATE" && payload.deleted === true);
    expect(update).toMatchObject({ deleted: true, statusOnly: false, resourceVersion: Number(softDeleted.resource_version) });

    await database().pool.query("DELETE FROM objects WHERE uid = $1", [object.uid]);
    expect(await messages.next((payload) => payload.name === "notified" && payload.op === "DELETE")).toMatchObject({
      deleted: true,
    });
  });

  it("names the owner in the notification, so controllers map a dependent to its owner without a re-read", async () => {
    const messages = inbox();
    listeners.push(await listen(database().url, [channels.objects], messages.deliver));
    const owner = await insertObject("owner-rs", { kind: "ReplicaSet" });
    await database().pool.query(
      `INSERT INTO objects (kind, name, api_version, spec_hash, source, owner_uid) VALUES ('Pod', 'owned-pod', 'v1', 'h', 'controller', $1)`,
      [owner.uid],
    );
    await database().pool.query("DELETE FROM objects WHERE name = 'owned-pod'");
    expect(await messages.next((payload) => payload.name === "owned-pod" && payload.op === "INSERT")).toMatchObject({
      ownerUid: owner.uid,
    });
    expect(await messages.next((payload) => payload.name === "owned-pod" && payload.op === "DELETE")).toMatchObject({
      ownerUid: owner.uid,
    });
  });

  it("sends no notification for a write that is rolled back", async () => {
    const messages = inbox();
    listeners.push(await listen(database().url, [channels.objects], messages.deliver));
    const client = await database().pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO objects (kind, name, api_version, spec_hash, source) VALUES ('Pod', 'ghost', 'v1', 'h', 'controller')`,
      );
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    await insertObject("after-ghost");

    await messages.next((payload) => payload.name === "after-ghost");
    expect(messages.received.some((message) => message.payload.name === "ghost")).toBe(false);
  });
});

describe("revisions", () => {
  it("notifies capstan_revisions with the sha and state", async () => {
    const messages = inbox();
    listeners.push(await listen(database().url, [channels.revisions], messages.deliver));

    await database().pool.query(`INSERT INTO revisions (sha, state) VALUES ('abc123', 'pending')`);
    await database().pool.query(`UPDATE revisions SET state = 'applied' WHERE sha = 'abc123'`);

    await messages.next((payload) => payload.state === "applied");
    expect(messages.received.map((message) => message.payload)).toEqual([
      { sha: "abc123", state: "pending" },
      { sha: "abc123", state: "applied" },
    ]);
  });

  it("accepts only the four revision states and JSON arrays of problems", async () => {
    const pool = database().pool;
    await expect(pool.query(`INSERT INTO revisions (sha, state) VALUES ('s1', 'live')`)).rejects.toMatchObject({ code: "23514" });
    await expect(pool.query(`INSERT INTO revisions (sha, state, errors) VALUES ('s2', 'rejected', '{}')`)).rejects.toMatchObject({
      code: "23514",
    });
  });
});

describe("events", () => {
  const record = (message: string, at: string) =>
    database().pool.query(
      `SELECT * FROM record_event(NULL, 'Pod', 'default', 'web-1', 'Warning', 'BackOff', $1, 'kubelet', $2::timestamptz)`,
      [message, at],
    );

  it("folds a repeated event into one row, counting it and moving last_time", async () => {
    await record("Back-off restarting failed container", "2024-05-01T10:00:00Z");
    await record("Back-off restarting failed container", "2024-05-01T10:05:00Z");
    const third = await record("Back-off restarting failed container", "2024-05-01T10:09:00Z");

    expect(third.rows[0]).toMatchObject({
      count: 3,
      first_time: new Date("2024-05-01T10:00:00Z"),
      last_time: new Date("2024-05-01T10:09:00Z"),
    });
    const rows = await database().pool.query("SELECT count(*)::int AS n FROM events WHERE name = 'web-1'");
    expect(rows.rows[0].n).toBe(1);
  });

  it("starts a fresh count when the same event returns after a quiet hour", async () => {
    await record("Liveness probe failed", "2024-05-02T10:00:00Z");
    await record("Liveness probe failed", "2024-05-02T10:10:00Z");
    const later = await record("Liveness probe failed", "2024-05-02T11:30:00Z");

    expect(later.rows[0]).toMatchObject({ count: 1, first_time: new Date("2024-05-02T11:30:00Z") });
  });

  it("keeps different messages apart, however long", async () => {
    const long = "x".repeat(10_000);
    await record(long, "2024-05-03T10:00:00Z");
    await record(`${long}y`, "2024-05-03T10:00:00Z");
    const again = await record(long, "2024-05-03T10:01:00Z");

    expect(again.rows[0].count).toBe(2);
  });
});
