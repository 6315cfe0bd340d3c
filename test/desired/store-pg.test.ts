import { describe, expect, it } from "vitest";
import { channels } from "../../src/db/index.ts";
import { PgDesiredStore } from "../../src/desired/store-pg.ts";
import type { DesiredObject } from "../../src/desired/types.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { describeDesiredStore } from "./store.suite.ts";

const database = useTestDatabase();

describeDesiredStore("PostgreSQL", async () => {
  // One database for the file, emptied before each case of the shared suite.
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state RESTART IDENTITY CASCADE");
  return new PgDesiredStore(database().pool);
});

describe("PgDesiredStore on PostgreSQL only", () => {
  it("serialises two control planes applying different commits at once: one wins whole, nothing is mixed", async () => {
    await database().pool.query("TRUNCATE revisions, objects, events, sync_state RESTART IDENTITY CASCADE");
    const first = new PgDesiredStore(database().pool);
    const second = new PgDesiredStore(database().pool);
    const names = Array.from({ length: 200 }, (_, index) => `cm-${index}`);
    await Promise.all([
      first.applyRevision(commit("c1"), names.map((name) => configMap(name, "one")), []),
      second.applyRevision(commit("c2"), names.map((name) => configMap(name, "two")), []),
    ]);
    const objects = await first.listObjects({ kind: "ConfigMap" });
    expect(objects).toHaveLength(200);
    const shas = new Set(objects.map((object) => object.revisionSha));
    expect(shas.size).toBe(1);
    const winner = [...shas][0];
    const expected = winner === "c1" ? "one" : "two";
    expect(objects.every((object) => (object.spec as { data: { v: string } }).data.v === expected)).toBe(true);
  });

  it("wakes a listener through NOTIFY when a revision changes objects", async () => {
    await database().pool.query("TRUNCATE revisions, objects, events, sync_state RESTART IDENTITY CASCADE");
    const listener = await database().pool.connect();
    try {
      const received: string[] = [];
      listener.on("notification", (message) => received.push(message.payload ?? ""));
      await listener.query(`LISTEN ${channels.objects}`);
      await new PgDesiredStore(database().pool).applyRevision(commit("n1"), [configMap("woken", "x")], []);
      await expect.poll(() => received.length, { timeout: 5000 }).toBe(1);
      expect(JSON.parse(received[0]!)).toMatchObject({ kind: "ConfigMap", name: "woken", deleted: false });
    } finally {
      await listener.query("UNLISTEN *");
      listener.release();
    }
  });
});

function commit(sha: string) {
  return { sha, parentSha: null, authorName: "A", authorEmail: "a@example.com", message: sha, committedAt: new Date("2026-01-01T00:00:00Z") };
}

function configMap(name: string, value: string): DesiredObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    namespace: "default",
    name,
    labels: {},
    annotations: {},
    spec: { data: { v: value } },
    source: { file: `${name}.yaml`, line: 1, column: 1 },
  };
}
