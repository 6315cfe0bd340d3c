import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog } from "../../src/desired/index.ts";
import { GitSync, openGitSource, RollbackService, rollbackResultSchema } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, syncAcceptedSchema, type StatusServerOptions } from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * The API's two actions, POST /api/sync and POST /api/rollback, behind the
 * one token check: refused while no CAPSTAN_TOKEN is configured (403, saying
 * actions are disabled), without a token (401) or with a wrong one (403),
 * carried out with the right one, and the refusals leave nothing done.
 */

const database = useTestDatabase();
const token = "a-long-enough-token";
let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let services: Pick<StatusServerOptions, "store" | "rollouts" | "rollback">;
let syncs = 0;

beforeAll(async () => {
  repo = await createRepo();
  cache = await tempDir("capstan-actions-api-");
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
  const store = new PgDesiredStore(database().pool);
  const rollouts = new PgRolloutLog(database().pool);
  const sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
  for (const value of ["1", "2"]) {
    await repo.write("app.yaml", `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: app }\ndata: { value: "${value}" }\n`);
    await repo.commit(`app ${value}`);
    await sync.syncOnce();
  }
  services = { store, rollouts, rollback: new RollbackService({ source, store, rollouts, clock: systemClock, log: silentLogger }) };
});

afterAll(async () => {
  await repo.cleanup();
  await cache.cleanup();
});

const appWith = (options: Partial<StatusServerOptions>) =>
  createStatusApp({ ...services, log: silentLogger, storeReachable: async () => true, syncNow: () => void syncs++, ...options } as StatusServerOptions);

const actions = [
  { path: "/api/sync", body: undefined, ok: 202 },
  { path: "/api/rollback", body: JSON.stringify({ dryRun: true }), ok: 200 },
];

async function post(app: ReturnType<typeof createStatusApp>, path: string, body: string | undefined, authorization?: string) {
  const response = await app.request(path, { method: "POST", headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) }, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe.each(actions)("POST $path", ({ path, body, ok }) => {
  it("is refused while no CAPSTAN_TOKEN is configured, whatever is sent, saying actions are disabled", async () => {
    const before = syncs;
    for (const authorization of [undefined, `Bearer ${token}`]) {
      const answer = await post(appWith({ token: undefined }), path, body, authorization);
      expect(answer.status).toBe(403);
      expect(answer.body.error).toMatch(/disabled: this control plane has no CAPSTAN_TOKEN, so actions are turned off/);
    }
    expect(syncs).toBe(before);
  });

  it("answers 401 without a token and 403 with a wrong one, and does nothing", async () => {
    const before = syncs;
    const app = appWith({ token });
    const missing = await post(app, path, body);
    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatch(/needs the control plane's token \(Authorization: Bearer <CAPSTAN_TOKEN>\)/);
    for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}X`, `Basic ${token}`, token]) {
      const answer = await post(app, path, body, wrong);
      expect(answer.status, wrong).toBe(wrong.startsWith("Bearer") ? 403 : 401);
      expect(JSON.stringify(answer.body)).not.toContain(token);
    }
    expect(syncs).toBe(before);
  });

  it(`carries it out with the right token (${ok})`, async () => {
    const before = syncs;
    const answer = await post(appWith({ token }), path, body, `Bearer ${token}`);
    expect(answer.status).toBe(ok);
    if (path === "/api/sync") {
      expect(syncAcceptedSchema.parse(answer.body)).toEqual({ accepted: true });
      expect(syncs).toBe(before + 1);
    } else {
      expect(rollbackResultSchema.parse(answer.body)).toMatchObject({ pushed: false });
    }
  });
});

describe("actions a control plane cannot do", () => {
  it("answers 404 saying so when no sync or rollback is wired, after the token check", async () => {
    const bare = appWith({ token, syncNow: undefined, rollback: undefined });
    const sync = await post(bare, "/api/sync", undefined, `Bearer ${token}`);
    expect(sync).toEqual({ status: 404, body: { error: "sync now is not available on this control plane" } });
    const rollback = await post(bare, "/api/rollback", JSON.stringify({}), `Bearer ${token}`);
    expect(rollback).toEqual({ status: 404, body: { error: "rollback is not available on this control plane" } });
    expect((await post(bare, "/api/sync", undefined)).status).toBe(401);
  });

  it("refuses an unknown query parameter on sync now", async () => {
    const answer = await post(appWith({ token }), "/api/sync?force=1", undefined, `Bearer ${token}`);
    expect(answer).toEqual({ status: 400, body: { error: 'bad query parameters: force: Unrecognized key: "force"' } });
  });
});
