import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog, type HistoryEntry } from "../../src/desired/index.ts";
import { GitSync, openGitSource, RollbackService } from "../../src/gitsync/index.ts";
import { formatHistory } from "../../src/cli/history.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp } from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/** The history, diff and rollback routes on real PostgreSQL and a real repository: shapes, refusals and their HTTP statuses. */

const database = useTestDatabase();
let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let sync: GitSync;
let app: ReturnType<typeof createStatusApp>;

const configMap = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: "${value}"\n`;

beforeEach(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
  repo = await createRepo();
  cache = await tempDir("capstan-history-api-");
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
  const store = new PgDesiredStore(database().pool);
  const rollouts = new PgRolloutLog(database().pool);
  sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
  const rollback = new RollbackService({ source, store, rollouts, clock: systemClock, log: silentLogger });
  app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, rollouts, rollback, token });
});

const token = "a-long-enough-token";

afterEach(async () => {
  await repo.cleanup();
  await cache.cleanup();
});

async function commit(value: string): Promise<string> {
  await repo.write("app.yaml", configMap(value));
  const sha = await repo.commit(`app ${value}`);
  await sync.syncOnce();
  return sha;
}

const post = (body: string) => app.request("/api/rollback", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body });

describe("history, diff and rollback routes", () => {
  it("lists revisions with health and changes, each item keeping the revision's own fields", async () => {
    const first = await commit("1");
    const second = await commit("2");
    const response = await app.request("/api/history?limit=5");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { items: HistoryEntry[] };
    expect(body.items.map((item) => [item.sha, item.state, item.health, item.changes.length])).toEqual([
      [second, "applied", "healthy", 1],
      [first, "applied", "healthy", 1],
    ]);
  });

  it.each([
    { case: "a body that is not JSON", body: "{", status: 400, error: /the body must be JSON/ },
    { case: "an unknown field", body: JSON.stringify({ force: true }), status: 400, error: /bad body/ },
    { case: "a malformed workload", body: JSON.stringify({ workload: "web" }), status: 400, error: /expected <kind>\/<name>/ },
    { case: "nothing healthy to go back to", body: JSON.stringify({}), status: 409, error: /no healthy revision before the live one/ },
  ])("answers $status to $case", async ({ body, status, error }) => {
    await commit("1");
    const response = await post(body);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: string }).error).toMatch(error);
  });

  it("answers 409 naming both commits when the branch moved", async () => {
    await commit("1");
    const synced = await commit("2");
    await repo.write("app.yaml", configMap("3"));
    const moved = await repo.commit("app 3");
    const response = await post(JSON.stringify({}));
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toContain(`capstan built on ${synced.slice(0, 10)} but the branch is now at ${moved.slice(0, 10)}`);
  });

  it("refuses a rollback without the token (401), with a wrong one (403), and always while no token is configured (403)", async () => {
    await commit("1");
    await commit("2");
    const store = new PgDesiredStore(database().pool);
    const rollouts = new PgRolloutLog(database().pool);
    const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
    const rollback = new RollbackService({ source, store, rollouts, clock: systemClock, log: silentLogger });
    const guarded = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, rollouts, rollback, token: "a-long-enough-token" });
    const disabled = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, rollouts, rollback });
    const request = (authorization?: string, target = guarded) =>
      target.request("/api/rollback", { method: "POST", headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) }, body: JSON.stringify({ dryRun: true }) });
    expect((await request()).status).toBe(401);
    expect((await request("Bearer a-long-enough-tokeX")).status).toBe(403);
    const off = await request("Bearer a-long-enough-token", disabled);
    expect(off.status).toBe(403);
    expect(((await off.json()) as { error: string }).error).toMatch(/disabled.*CAPSTAN_TOKEN/);
    const allowed = await request("Bearer a-long-enough-token");
    expect(allowed.status).toBe(200);
    expect(((await allowed.json()) as { pushed: boolean }).pushed).toBe(false);
  });

  it("refuses a malformed diff query", async () => {
    expect((await app.request("/api/diff?from=HEAD")).status).toBe(400);
  });
});

describe("formatHistory: the capstan history table", () => {
  it("shows each commit's outcome: healthy, a failed rollout with its reason, or the errors of a rejected commit", () => {
    const revision = (sha: string, state: HistoryEntry["state"], health: HistoryEntry["health"], subject: string, extra: Partial<HistoryEntry> = {}): HistoryEntry => ({
      id: 1,
      sha: sha.repeat(40),
      parentSha: null,
      authorName: "Ada",
      authorEmail: "ada@example.com",
      message: `${subject}\n\nbody`,
      committedAt: new Date("2026-11-23T12:00:00.123Z"),
      state,
      errors: [],
      warnings: [],
      objectCount: 1,
      seenAt: new Date(0),
      appliedAt: null,
      health,
      changes: [],
      rollouts: [],
      ...extra,
    });
    const failed = {
      id: 1,
      revisionSha: "b".repeat(40),
      kind: "Deployment",
      namespace: "default",
      name: "web",
      generation: 2,
      startedAt: new Date(0),
      finishedAt: new Date(0),
      outcome: "failed" as const,
      reason: "ProgressDeadlineExceeded",
      revertedBy: null,
    };
    const error = { file: "a.yaml", line: 1, column: 1, path: "", message: "bad", severity: "error" as const };
    expect(
      formatHistory([
        revision("c", "rejected", null, "typo", { errors: [error] }),
        revision("b", "applied", "failed", "web v2", { rollouts: [failed] }),
        revision("a", "applied", "healthy", "web v1"),
      ]),
    ).toBe(
      [
        "COMMIT      STATE     OUTCOME                                          COMMITTED             AUTHOR  SUBJECT",
        "cccccccccc  rejected  1 error(s)                                       2026-11-23T12:00:00Z  Ada     typo",
        "bbbbbbbbbb  applied   failed: deployment/web ProgressDeadlineExceeded  2026-11-23T12:00:00Z  Ada     web v2",
        "aaaaaaaaaa  applied   healthy                                          2026-11-23T12:00:00Z  Ada     web v1",
        "",
      ].join("\n"),
    );
  });
});
