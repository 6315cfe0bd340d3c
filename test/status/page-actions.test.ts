import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog } from "../../src/desired/index.ts";
import { GitSync, openGitSource, RollbackService } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp } from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { element, hasElement, inputValue, textOf } from "./page/html.ts";

/** The page's forms: CSRF first, then CAPSTAN_TOKEN, then a rollback commit pushed to a real repository or a fetch asked for. */

const database = useTestDatabase();
const token = "a-long-enough-token";
let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let sync: GitSync;
let syncRequests: number;
let app: ReturnType<typeof createStatusApp>;

const configMap = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: "${value}"\n`;

beforeEach(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
  repo = await createRepo();
  cache = await tempDir("capstan-page-actions-");
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
  const store = new PgDesiredStore(database().pool);
  const rollouts = new PgRolloutLog(database().pool);
  sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
  const rollback = new RollbackService({ source, store, rollouts, clock: systemClock, log: silentLogger });
  syncRequests = 0;
  app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, rollouts, rollback, token, syncNow: () => void syncRequests++ });
});

afterEach(async () => {
  await sync.stop();
  await repo.cleanup();
  await cache.cleanup();
});

async function commit(value: string): Promise<string> {
  await repo.write("app.yaml", configMap(value));
  const sha = await repo.commit(`app ${value}`);
  await sync.syncOnce();
  return sha;
}

/** What a browser holds after loading the page: its CSRF cookie and the token the forms echo. */
async function browserSession(target = app): Promise<{ cookie: string; csrf: string; html: string }> {
  const response = await target.request("http://capstan.test/");
  const setCookie = response.headers.get("set-cookie")!;
  expect(setCookie).toMatch(/capstan_csrf=[^;]+;.*HttpOnly/);
  expect(setCookie).toContain("SameSite=Strict");
  const html = await response.text();
  return { cookie: setCookie.split(";", 1)[0]!, csrf: inputValue(element(html, "form", `class="sync-now"`), "csrf"), html };
}

function post(path: string, fields: Record<string, string>, headers: Record<string, string>, target = app) {
  return target.request(`http://capstan.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://capstan.test", ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

async function answer(response: Response): Promise<{ status: number; alert: string | null; ok: string | null }> {
  const html = await response.text();
  expect(response.headers.get("content-type")).toContain("text/html");
  expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
  return {
    status: response.status,
    alert: hasElement(html, "p", `role="alert"`) ? textOf(element(html, "p", `role="alert"`)) : null,
    ok: hasElement(html, "p", `role="status"`) ? textOf(element(html, "p", `role="status"`)) : null,
  };
}

describe("page forms", () => {
  it("keeps one CSRF token per browser and puts it in every form", async () => {
    await commit("1");
    await commit("2");
    const session = await browserSession();
    const again = await app.request("http://capstan.test/", { headers: { cookie: session.cookie } });
    expect(again.headers.get("set-cookie")).toBeNull();
    const html = await again.text();
    expect(inputValue(element(html, "form", `class="rollback"`), "csrf")).toBe(session.csrf);
    expect(inputValue(element(html, "form", `class="sync-now"`), "csrf")).toBe(session.csrf);
  });

  it.each([
    { case: "no csrf field", fields: (csrf: string) => ({ token }), headers: {} as Record<string, string>, reason: /CSRF token is missing/ },
    { case: "a mismatched csrf field", fields: (csrf: string) => ({ token, csrf: `${csrf.slice(0, -1)}x` }), headers: {} as Record<string, string>, reason: /does not match/ },
    { case: "no csrf cookie", fields: (csrf: string) => ({ token, csrf }), headers: { cookie: "" } as Record<string, string>, reason: /CSRF token is missing/ },
    { case: "a cross-origin Origin", fields: (csrf: string) => ({ token, csrf }), headers: { origin: "https://evil.example" } as Record<string, string>, reason: /another origin/ },
    { case: "an opaque Origin", fields: (csrf: string) => ({ token, csrf }), headers: { origin: "null" } as Record<string, string>, reason: /another origin/ },
  ])("refuses $case with 403 before looking at the token or acting", async ({ fields, headers, reason }) => {
    const session = await browserSession();
    for (const path of ["/actions/sync", "/actions/rollback"]) {
      const result = await answer(await post(path, fields(session.csrf), { cookie: session.cookie, ...headers }));
      expect(result.status).toBe(403);
      expect(result.alert).toMatch(reason);
      expect(result.ok).toBeNull();
    }
    expect(syncRequests).toBe(0);
  });

  it("refuses a missing token with 401, a wrong one with 403, and any while none is configured with 403", async () => {
    const session = await browserSession();
    const missing = await answer(await post("/actions/sync", { csrf: session.csrf, token: "" }, { cookie: session.cookie }));
    expect(missing.status).toBe(401);
    expect(missing.alert).toContain("needs the control plane's token");
    const wrong = await answer(await post("/actions/rollback", { csrf: session.csrf, token: "a-long-enough-tokeX", to: "abcd" }, { cookie: session.cookie }));
    expect(wrong.status).toBe(403);
    expect(wrong.alert).toContain("does not match CAPSTAN_TOKEN");

    const disabled = createStatusApp({ store: new PgDesiredStore(database().pool), log: silentLogger, storeReachable: async () => true, syncNow: () => void syncRequests++ });
    const offSession = await browserSession(disabled);
    const off = await answer(await post("/actions/sync", { csrf: offSession.csrf, token }, { cookie: offSession.cookie }, disabled));
    expect(off.status).toBe(403);
    expect(off.alert).toMatch(/disabled.*CAPSTAN_TOKEN/);
    expect(syncRequests).toBe(0);
  });

  it("accepts a same-origin form without an Origin header (older browsers), the cookie still deciding", async () => {
    const session = await browserSession();
    const response = await app.request("http://capstan.test/actions/sync", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: session.cookie },
      body: new URLSearchParams({ csrf: session.csrf, token }).toString(),
    });
    const result = await answer(response);
    expect(result.status).toBe(200);
    expect(result.ok).toContain("Sync requested");
    expect(syncRequests).toBe(1);
  });

  it("rolls back through the form: a revert commit on the branch, named on the answer page", async () => {
    const first = await commit("1");
    const second = await commit("2");
    const session = await browserSession();
    const result = await answer(await post("/actions/rollback", { csrf: session.csrf, token, to: first }, { cookie: session.cookie }));
    expect(result.status).toBe(200);
    expect(result.alert).toBeNull();
    const head = await repo.revParse("HEAD");
    expect(head).not.toBe(second);
    expect(result.ok).toContain(head);
    expect(result.ok).toContain(first.slice(0, 10));
    expect(await repo.git("show", `${head}:app.yaml`)).toBe(configMap("1").trimEnd());
    expect(await repo.git("rev-parse", `${head}^`)).toBe(second);
  });

  it("answers a refused rollback with the service's status: 409 when there is nothing to roll back", async () => {
    await commit("1");
    const live = await commit("2");
    const session = await browserSession();
    const result = await answer(await post("/actions/rollback", { csrf: session.csrf, token, to: live }, { cookie: session.cookie }));
    expect(result.status).toBe(409);
    expect(result.alert).toBeTruthy();
    expect(await repo.revParse("HEAD")).toBe(live);
  });

  it("asks for a fetch on sync now", async () => {
    const session = await browserSession();
    const result = await answer(await post("/actions/sync", { csrf: session.csrf, token }, { cookie: session.cookie }));
    expect(result.status).toBe(200);
    expect(result.ok).toContain("Sync requested");
    expect(syncRequests).toBe(1);
  });
});
