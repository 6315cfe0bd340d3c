import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog, type DesiredObject } from "../../src/desired/index.ts";
import { GitSync, openGitSource } from "../../src/gitsync/index.ts";
import { planStages, waveOf } from "../../src/gitsync/waves.ts";
import { silentLogger } from "../../src/logging.ts";
import { eventually } from "../helpers/eventually.ts";
import { createRepo, tempDir } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const object = (name: string, version: string, wave?: string): DesiredObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  namespace: "default",
  name,
  labels: {},
  annotations: wave === undefined ? {} : { "capstan.dev/sync-wave": wave },
  spec: { version },
  source: { file: `${name}.yaml`, line: 1, column: 1 },
});

/** `name@version` per object of a stage, sorted. */
const show = (objects: DesiredObject[]) => objects.map((o) => `${o.name}@${(o.spec as { version: string }).version}`).sort();

describe("planStages: a commit applied wave by wave", () => {
  it("is one stage, the commit itself, when no object names a wave", () => {
    const desired = [object("a", "2"), object("b", "2")];
    const stages = planStages(desired, [object("a", "1"), object("gone", "1")]);
    expect(stages).toHaveLength(1);
    expect(stages[0]!.objects).toEqual(desired);
  });

  it("applies lower waves first, carries later waves' live versions, and removes objects only in the last stage", () => {
    const desired = [object("db", "2", "-1"), object("web", "2", "1"), object("cache", "2"), object("new", "1", "1")];
    const live = [object("db", "1", "-1"), object("web", "1", "1"), object("cache", "1"), object("gone", "1")];
    const stages = planStages(desired, live);
    expect(stages.map((stage) => stage.wave)).toEqual([-1, 0, 1]);
    expect(stages.map((stage) => show(stage.objects))).toEqual([
      ["cache@1", "db@2", "gone@1", "web@1"],
      ["cache@2", "db@2", "gone@1", "web@1"],
      ["cache@2", "db@2", "new@1", "web@2"],
    ]);
    expect(stages.map((stage) => show(stage.members))).toEqual([["db@2"], ["cache@2"], ["new@1", "web@2"]]);
  });

  it.each([
    { annotation: undefined, wave: 0 },
    { annotation: "3", wave: 3 },
    { annotation: "-2", wave: -2 },
    { annotation: "soon", wave: 0 },
  ])("reads sync-wave $annotation as wave $wave", ({ annotation, wave }) => {
    expect(waveOf(object("x", "1", annotation))).toBe(wave);
  });
});

describe("sync waves through GitSync on real PostgreSQL and Git", () => {
  const database = useTestDatabase();
  const deployment = (name: string, version: string, wave: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  annotations: { capstan.dev/sync-wave: "${wave}" }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers: [{ name: app, command: ["sleep", "1000"], env: [{ name: VERSION, value: "${version}" }] }]
`;

  it("holds the later wave until the earlier wave's rollout ends, stops at a failed wave, and tries the commit again on the next pass", async () => {
    await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
    const repo = await createRepo();
    const cache = await tempDir("capstan-waves-");
    const store = new PgDesiredStore(database().pool);
    const rollouts = new PgRolloutLog(database().pool);
    const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
    const sync = new GitSync({ source, store, rollouts, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
    const version = async (name: string) => JSON.stringify((await store.getObject({ kind: "Deployment", namespace: "default", name }))?.spec ?? null).match(/"value":"(\w+)"/)?.[1];
    const endRollout = async (name: string, outcome: "complete" | "failed") => {
      const rollout = await rollouts.progressing({ kind: "Deployment", namespace: "default", name });
      await rollouts.finish(rollout!.id, outcome, outcome === "failed" ? "ProgressDeadlineExceeded" : null, new Date());
    };
    try {
      await repo.writeAll({ "db.yaml": deployment("db", "v1", "0"), "web.yaml": deployment("web", "v1", "1") });
      const first = await repo.commit("v1");
      const pass = sync.syncOnce();
      await eventually(async () => expect(await version("db")).toBe("v1"), 10_000);
      expect(await version("web")).toBeUndefined();
      expect((await store.getSyncState())!.lastSeenSha).toBeNull();
      await endRollout("db", "complete");
      await pass;
      expect(await version("web")).toBe("v1");
      expect((await store.getSyncState())!.lastSeenSha).toBe(first);
      await endRollout("web", "complete");

      await repo.writeAll({ "db.yaml": deployment("db", "v2", "0"), "web.yaml": deployment("web", "v2", "1") });
      const second = await repo.commit("v2");
      const failing = sync.syncOnce();
      await eventually(async () => expect(await version("db")).toBe("v2"), 10_000);
      await endRollout("db", "failed");
      await failing;
      expect(await version("web")).toBe("v1");
      expect((await store.getSyncState())).toMatchObject({ liveSha: second, lastSeenSha: first });
      // The next pass tries again: the failed wave still stops it, and what the commit changed is kept.
      await sync.syncOnce();
      expect(await version("web")).toBe("v1");
      const [entry] = await rollouts.history({ limit: 1 });
      expect(entry!.changes.map((change) => `${change.change} ${change.name}`)).toEqual(["changed db"]);
      expect(entry!.health).toBe("failed");
    } finally {
      await repo.cleanup();
      await cache.cleanup();
    }
  });
});
