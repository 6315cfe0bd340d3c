import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { GitSync, openGitSource } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * Git stays the truth between commits: git-sourced objects changed in
 * PostgreSQL directly (as with psql) are put back on the sync's next pass,
 * each with a DriftRepaired event.
 */

const database = useTestDatabase();
let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let store: PgDesiredStore;
let sync: GitSync;

const configMap = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const value = async (name: string) => ((await store.getObject({ kind: "ConfigMap", namespace: "default", name }))?.spec as { data: { value: string } } | undefined)?.data.value;
const driftEvents = async () =>
  (await store.listEvents({ kind: "ConfigMap" })).filter((event) => event.reason === "DriftRepaired").map((event) => `${event.name}: ${event.message}`).sort();

beforeEach(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
  repo = await createRepo();
  cache = await tempDir("capstan-drift-");
  store = new PgDesiredStore(database().pool);
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
  sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
});

afterEach(async () => {
  await repo.cleanup();
  await cache.cleanup();
});

describe("drift in the database", () => {
  it("resets an edited object, re-creates a deleted one and deletes a stray one, with an event each", async () => {
    await repo.writeAll({ "a.yaml": configMap("a", "1"), "b.yaml": configMap("b", "1"), "c.yaml": configMap("c", "1") });
    const sha = await repo.commit("three settings");
    await sync.syncOnce();

    const sql = database().pool;
    await sql.query(`UPDATE objects SET spec = '{"data": {"value": "by hand"}}' WHERE kind = 'ConfigMap' AND name = 'a'`);
    await sql.query(`DELETE FROM objects WHERE kind = 'ConfigMap' AND name = 'b'`);
    await sql.query(
      `INSERT INTO objects (kind, namespace, name, api_version, spec, spec_hash, source) VALUES ('ConfigMap', 'default', 'stray', 'v1', '{}', 'x', 'git')`,
    );
    expect(await value("a")).toBe("by hand");

    expect(await sync.syncOnce()).toEqual({ result: "unchanged", sha });
    expect([await value("a"), await value("b"), await value("c"), await value("stray")]).toEqual(["1", "1", "1", undefined]);
    const short = sha.slice(0, 7);
    expect(await driftEvents()).toEqual([
      `a: edited in the database; reset to Git's version of commit ${short}`,
      `b: deleted in the database; re-created from commit ${short}`,
      `stray: not declared in commit ${short}; deleted`,
    ]);
    // The next pass finds nothing to do, and no revision was added for the repair.
    await sync.syncOnce();
    expect(await driftEvents()).toHaveLength(3);
    expect((await store.listRevisions()).map((revision) => revision.sha)).toEqual([sha]);
  });

  it("leaves controllers' status writes alone: only spec, labels and annotations count as drift", async () => {
    await repo.write("a.yaml", configMap("a", "1"));
    await repo.commit("one setting");
    await sync.syncOnce();
    await store.updateStatuses([{ key: { kind: "ConfigMap", namespace: "default", name: "a" }, status: { seen: true } }]);
    expect(await store.driftSuspected(1)).toBe(false);
    await sync.syncOnce();
    expect(await driftEvents()).toEqual([]);
  });
});
