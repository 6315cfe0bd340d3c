import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { MemoryDesiredStore } from "../../src/desired/index.ts";
import { GitSync, openGitSource, type GitSource } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, type Leadership } from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";

const secret = "hook-secret";
const sign = (body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

describe("status server", () => {
  let repo: TestRepo;
  let cache: Awaited<ReturnType<typeof tempDir>>;
  let sync: GitSync;
  let fetchTimes: number[];
  let store: MemoryDesiredStore;
  let app: ReturnType<typeof createStatusApp>;

  beforeEach(async () => {
    repo = await createRepo();
    cache = await tempDir("capstan-status-cache-");
    await repo.write("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  v: '1'\n");
    await repo.commit("first");
    const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
    fetchTimes = [];
    const timed: GitSource = Object.assign(Object.create(source) as GitSource, {
      fetch: () => {
        fetchTimes.push(performance.now());
        return source.fetch();
      },
    });
    store = new MemoryDesiredStore();
    sync = new GitSync({
      source: timed,
      store,
      clock: systemClock,
      log: silentLogger,
      describe: { url: repo.dir, branch: "main", path: "" },
      pollIntervalMs: 3_600_000,
    });
    app = createStatusApp({
      store,
      log: silentLogger,
      storeReachable: async () => true,
      webhook: { secret, branch: "main", onPush: () => sync.trigger() },
    });
  });

  afterEach(async () => {
    await sync.stop();
    await repo.cleanup();
    await cache.cleanup();
  });

  const post = (body: string, headers: Record<string, string>) =>
    app.request("/hooks/git", { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

  it("starts a fetch within 200 ms of a signed push, although the next poll is an hour away", async () => {
    sync.start();
    await expect.poll(() => fetchTimes.length).toBe(1);
    await expect.poll(async () => (await store.listRevisions({ limit: 1 })).length).toBe(1);
    const body = JSON.stringify({ ref: "refs/heads/main" });
    const sent = performance.now();
    expect((await post(body, { "x-hub-signature-256": sign(body) })).status).toBe(202);
    await expect.poll(() => fetchTimes.length, { timeout: 1_000, interval: 5 }).toBe(2);
    expect(fetchTimes[1]! - sent).toBeLessThan(200);
  });

  it("answers 401 to a missing or wrong signature, 413 to an oversized body, and fetches for neither", async () => {
    sync.start();
    await expect.poll(() => fetchTimes.length).toBe(1);
    const body = JSON.stringify({ ref: "refs/heads/main" });
    expect((await post(body, {})).status).toBe(401);
    expect((await post(body, { "x-hub-signature-256": sign(`${body} `) })).status).toBe(401);
    const huge = JSON.stringify({ ref: "refs/heads/main", padding: "x".repeat(2 * 1024 * 1024) });
    expect((await post(huge, { "x-hub-signature-256": sign(huge) })).status).toBe(413);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fetchTimes).toHaveLength(1);
  });

  it("serves health, readiness and paginated revisions, and refuses a bad query with 400", async () => {
    for (let index = 0; index < 3; index++) {
      await store.applyRevision(
        { sha: `sha${index}`, parentSha: null, authorName: "a", authorEmail: "a@x", message: `m${index}`, committedAt: new Date() },
        [],
        [],
      );
    }
    expect(await (await app.request("/healthz")).text()).toBe("ok");
    expect((await app.request("/readyz")).status).toBe(200);
    const first = (await (await app.request("/api/revisions?limit=2")).json()) as { items: Array<{ sha: string }>; next: number };
    expect(first.items.map((item) => item.sha)).toEqual(["sha2", "sha1"]);
    const second = (await (await app.request(`/api/revisions?limit=2&before=${first.next}`)).json()) as {
      items: Array<{ sha: string }>;
      next: number | null;
    };
    expect(second).toMatchObject({ items: [{ sha: "sha0" }], next: null });
    const bad = await app.request("/api/revisions?limit=abc");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/limit/);
  });

  it("reports not ready when the store does not answer", async () => {
    const down = createStatusApp({ store, log: silentLogger, storeReachable: async () => Promise.reject(new Error("refused")) });
    expect((await down.request("/readyz")).status).toBe(503);
    expect((await down.request("/hooks/git", { method: "POST", body: "{}" })).status).toBe(404);
  });
});

describe("status server with several control planes", () => {
  const follower = (leader: Leadership["leader"]): Leadership => ({ mode: "replicas", replica: "b", role: "follower", leader, fencedWrites: 0 });
  const appWith = (leadership: Leadership) =>
    createStatusApp({ store: new MemoryDesiredStore(), log: silentLogger, storeReachable: async () => true, leadership: () => leadership });

  it("is ready while a leader is known, and says when none is (a failover under way)", async () => {
    const known = await appWith(follower({ replica: "a", url: "http://a:8080", token: 3 })).request("/readyz");
    expect(known.status).toBe(200);
    const none = await appWith(follower(null)).request("/readyz");
    expect(none.status).toBe(503);
    expect(await none.text()).toBe("no leader known");
  });

  it("says in /api/status which replica leads and what this one is", async () => {
    const leadership = follower({ replica: "a", url: "http://a:8080", token: 3 });
    const response = await appWith(leadership).request("/api/status");
    expect(response.status).toBe(200);
    expect(((await response.json()) as { leadership: unknown }).leadership).toEqual(leadership);
  });
});
