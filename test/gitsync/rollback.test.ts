import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog } from "../../src/desired/index.ts";
import { BranchMovedError, RollbackRefusedError } from "../../src/errors.ts";
import { GitSync, openGitSource, RollbackService, type GitSource } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * `capstan rollback` below the API, on real Git: the revert commit lands on
 * the branch of a local work tree, or is pushed with isomorphic-git to a
 * remote served by `git http-backend` behind basic auth; never when the
 * branch moved.
 */

const database = useTestDatabase();
const auth = { username: "deployer", password: "s3cret-pa55word" };
let root: Awaited<ReturnType<typeof tempDir>>;
let server: GitHttpServer;

beforeAll(async () => {
  root = await tempDir("capstan-served-");
  server = await startGitHttpServer({ root: root.path, auth });
});

afterAll(async () => {
  await server?.close();
  await root?.cleanup();
});

const configMap = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const deployment = (version: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, command: ["sleep", "1000"], env: [{ name: VERSION, value: "${version}" }] }]
`;

describe.each([
  { transport: "a local work tree", http: false },
  { transport: "an HTTP remote with basic auth", http: true },
])("rollback commits on $transport", ({ http }) => {
  let repo: TestRepo;
  let cache: Awaited<ReturnType<typeof tempDir>>;
  let source: GitSource;
  let store: PgDesiredStore;
  let rollouts: PgRolloutLog;
  let sync: GitSync;
  let service: RollbackService;
  let published = 0;

  beforeEach(async () => {
    await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
    repo = await createRepo(join(root.path, `repo-${Math.random().toString(36).slice(2)}`));
    cache = await tempDir("capstan-rollback-cache-");
    source = openGitSource({ url: http ? server.urlFor(repo.dir) : repo.dir, branch: "main", cacheDir: cache.path, ...(http ? { auth } : {}) });
    store = new PgDesiredStore(database().pool);
    rollouts = new PgRolloutLog(database().pool);
    sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: source.url, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
    published = 0;
    service = new RollbackService({ source, store, rollouts, clock: systemClock, log: silentLogger, onPublished: () => published++ });
    return async () => {
      await repo.cleanup();
      await cache.cleanup();
    };
  });

  async function commitAndSync(files: Record<string, string | null>, message: string): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      if (content === null) await repo.remove(path);
      else await repo.write(path, content);
    }
    const sha = await repo.commit(message);
    await sync.syncOnce();
    return sha;
  }

  it("goes back to the last healthy revision with one commit on the branch, and the sync applies it", async () => {
    const v1 = await commitAndSync({ "a.yaml": configMap("a", "1"), "b.yaml": configMap("b", "1") }, "settings v1");
    const v2 = await commitAndSync({ "a.yaml": configMap("a", "2"), "b.yaml": null, "c.yaml": configMap("c", "2") }, "settings v2");

    const result = await service.rollback({ dryRun: false, requestedBy: "ada@laptop" });
    expect(result).toMatchObject({ pushed: true, fromSha: v2, toSha: v1 });
    expect(published).toBe(1);
    expect(await repo.git("log", "--format=%H %P", "-1", "main")).toBe(`${result.sha} ${v2}`);
    expect(await repo.git("log", "--format=%B", "-1", "main")).toBe(
      `Revert to ${v1.slice(0, 7)}: settings v1\n\nCapstan-Rollback-From: ${v2}\nCapstan-Rollback-To: ${v1}\nCapstan-Requested-By: ada@laptop`,
    );
    // The tree is v1's; the work tree follows (as a push with updateInstead would).
    expect(await repo.git("diff", "--stat", v1, "main")).toBe("");
    expect(await repo.git("status", "--porcelain")).toBe("");
    expect(result.changes.map((change) => `${change.change} ${change.name}`)).toEqual(["changed a", "added b", "removed c"]);

    await sync.syncOnce();
    const values = (await store.listObjects({ kind: "ConfigMap" })).map((object) => `${object.name}=${(object.spec as { data: { value: string } }).data.value}`);
    expect(values).toEqual(["a=1", "b=1"]);
    expect((await store.getSyncState())!.liveSha).toBe(result.sha);
  });

  it("skips a revision whose rollout failed, and --to picks any commit by prefix", async () => {
    const v1 = await commitAndSync({ "web.yaml": deployment("v1") }, "web v1");
    const web = { kind: "Deployment", namespace: "default", name: "web" };
    await rollouts.finish((await rollouts.progressing(web))!.id, "complete", null, new Date());
    const v2 = await commitAndSync({ "web.yaml": deployment("v2") }, "web v2");
    await rollouts.finish((await rollouts.progressing(web))!.id, "failed", "ProgressDeadlineExceeded", new Date());
    await commitAndSync({ "web.yaml": deployment("v3") }, "web v3");

    expect((await service.rollback({ dryRun: true, requestedBy: "t" })).toSha).toBe(v1);
    const toV2 = await service.rollback({ to: v2.slice(0, 8), dryRun: true, requestedBy: "t" });
    expect(toV2.toSha).toBe(v2);
    expect(toV2.changes).toEqual([{ ...web, change: "changed", fields: [{ path: "spec.template.spec.containers[0].env[0].value", from: "v3", to: "v2" }] }]);
  });

  it("--dry-run writes no branch: the diff is returned and the tip stays", async () => {
    await commitAndSync({ "a.yaml": configMap("a", "1") }, "v1");
    const v2 = await commitAndSync({ "a.yaml": configMap("a", "2") }, "v2");
    const result = await service.rollback({ dryRun: true, requestedBy: "t" });
    expect(result.pushed).toBe(false);
    expect(result.changes).toEqual([{ kind: "ConfigMap", namespace: "default", name: "a", change: "changed", fields: [{ path: "spec.data.value", from: "2", to: "1" }] }]);
    expect(await repo.revParse("main")).toBe(v2);
    expect(published).toBe(0);
  });

  it("--workload restores only that workload's files", async () => {
    const v1 = await commitAndSync({ "web.yaml": deployment("v1"), "a.yaml": configMap("a", "1") }, "v1");
    await commitAndSync({ "web.yaml": deployment("v2"), "a.yaml": configMap("a", "2") }, "v2");
    const result = await service.rollback({ to: v1, workload: { kind: "Deployment", namespace: "default", name: "web" }, dryRun: false, requestedBy: "t" });
    expect(result.changes.map((change) => `${change.kind}/${change.name}`)).toEqual(["Deployment/web"]);
    expect(await repo.git("show", "main:a.yaml")).toContain('value: "2"');
    expect(await repo.git("show", "main:web.yaml")).toContain('value: "v1"');
    expect(await repo.git("log", "--format=%B", "-1", "main")).toContain("Capstan-Rollback-Workload: Deployment/default/web");
  });

  it("refuses when the branch moved since the last sync, and pushes nothing", async () => {
    await commitAndSync({ "a.yaml": configMap("a", "1") }, "v1");
    await commitAndSync({ "a.yaml": configMap("a", "2") }, "v2");
    await repo.write("a.yaml", configMap("a", "3"));
    const moved = await repo.commit("v3, pushed by someone else");
    const attempt = service.rollback({ dryRun: false, requestedBy: "t" });
    await expect(attempt).rejects.toThrow(BranchMovedError);
    await expect(attempt).rejects.toThrow(/branch main moved: capstan built on .* but the branch is now at .*; nothing was pushed/);
    expect(await repo.revParse("main")).toBe(moved);
    expect(published).toBe(0);
  });

  it("refuses when there is nothing to roll back to, or nothing would change", async () => {
    const v1 = await commitAndSync({ "a.yaml": configMap("a", "1") }, "v1");
    await expect(service.rollback({ dryRun: false, requestedBy: "t" })).rejects.toThrow(/no healthy revision before the live one/);
    await expect(service.rollback({ to: v1, dryRun: false, requestedBy: "t" })).rejects.toThrow(RollbackRefusedError);
  });

  it("diffs two commits, or one and its parent, at the manifest level", async () => {
    const v1 = await commitAndSync({ "a.yaml": configMap("a", "1") }, "v1");
    const v2 = await commitAndSync({ "a.yaml": configMap("a", "2"), "b.yaml": configMap("b", "1") }, "v2");
    const diff = await service.diff(v2.slice(0, 10));
    expect(diff).toEqual({
      fromSha: v1,
      toSha: v2,
      changes: [
        { kind: "ConfigMap", namespace: "default", name: "a", change: "changed", fields: [{ path: "spec.data.value", from: "1", to: "2" }] },
        { kind: "ConfigMap", namespace: "default", name: "b", change: "added", fields: [] },
      ],
    });
    expect((await service.diff(v2, v1)).changes.map((change) => change.change)).toEqual(["changed", "removed"]);
  });
});

describe("rollback commits on a local work tree the user is editing", () => {
  it("moves the branch but leaves a file the user modified alone", async () => {
    await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
    const repo = await createRepo();
    const cache = await tempDir("capstan-rollback-cache-");
    try {
      const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
      const store = new PgDesiredStore(database().pool);
      const sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
      const service = new RollbackService({ source, store, rollouts: new PgRolloutLog(database().pool), clock: systemClock, log: silentLogger });
      for (const value of ["1", "2"]) {
        await repo.write("a.yaml", configMap("a", value));
        await repo.commit(`v${value}`);
        await sync.syncOnce();
      }
      await writeFile(join(repo.dir, "a.yaml"), configMap("a", "being edited"));
      const result = await service.rollback({ dryRun: false, requestedBy: "t" });
      expect(await repo.revParse("main")).toBe(result.sha);
      expect(await repo.git("show", "main:a.yaml")).toContain('value: "1"');
      expect(await readFile(join(repo.dir, "a.yaml"), "utf8")).toBe(configMap("a", "being edited"));
    } finally {
      await repo.cleanup();
      await cache.cleanup();
    }
  });
});
