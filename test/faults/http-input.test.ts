/**
 * Bad input at the control plane's HTTP door, on real PostgreSQL and a real
 * repository: webhook bodies (unsigned, wrongly signed, huge, malformed,
 * wrongly typed) are refused with 401/400/413 and trigger nothing, a huge
 * body is refused without being read whole; random query strings on every
 * GET endpoint answer 200, or 400/404/409 with an `error`, never 500.
 * `FAULT_QUERIES` sets the random query strings per endpoint (default 150).
 */
import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog } from "../../src/desired/index.ts";
import { GitSync, openGitSource, RollbackService } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, listen, type RunningServer } from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const queriesPerEndpoint = Number(process.env.FAULT_QUERIES ?? 150);
const secret = "faults-webhook-secret";
const database = useTestDatabase();
let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let app: ReturnType<typeof createStatusApp>;
let server: RunningServer;
let pushes = 0;
let sha = "";

beforeAll(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state RESTART IDENTITY CASCADE");
  repo = await createRepo();
  cache = await tempDir("capstan-faults-http-");
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
  const store = new PgDesiredStore(database().pool);
  const rollouts = new PgRolloutLog(database().pool);
  const sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
  const rollback = new RollbackService({ source, store, rollouts, clock: systemClock, log: silentLogger });
  app = createStatusApp({
    store,
    log: silentLogger,
    storeReachable: async () => true,
    rollouts,
    rollback,
    token: "faults-token",
    syncNow: () => undefined,
    webhook: { secret, branch: "main", onPush: () => void pushes++ },
  });
  await repo.writeAll({
    "node.yaml": "apiVersion: capstan.dev/v1\nkind: Node\nmetadata: { name: n1 }\nspec: { transport: local, address: 127.0.0.1 }\n",
    "web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, command: [node, app.js] }] }
`,
  });
  sha = await repo.commit("web");
  await sync.syncOnce();
  await sync.stop();
  server = await listen(app, "127.0.0.1", 0);
});

afterAll(async () => {
  await server?.close();
  await repo?.cleanup();
  await cache?.cleanup();
});

const sign = (body: string | Buffer) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
const push = JSON.stringify({ ref: "refs/heads/main", after: "a".repeat(40) });

async function hook(body: string, headers: Record<string, string>): Promise<{ status: number; body: { error?: string } }> {
  const response = await fetch(`${server.url}/hooks/git`, { method: "POST", body, headers });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}

describe("webhook bodies", () => {
  const cases: Array<{ name: string; body: string; headers: () => Record<string, string>; status: number }> = [
    { name: "no signature", body: push, headers: () => ({ "content-type": "application/json" }), status: 401 },
    { name: "a signature made with another secret", body: push, headers: () => ({ "x-hub-signature-256": `sha256=${createHmac("sha256", "guess").update(push).digest("hex")}` }), status: 401 },
    { name: "a signature of another body", body: push, headers: () => ({ "x-hub-signature-256": sign(push.replace("main", "prod")) }), status: 401 },
    { name: "a signature that is not hex", body: push, headers: () => ({ "x-hub-signature-256": `sha256=${"z".repeat(64)}` }), status: 401 },
    { name: "a truncated signature", body: push, headers: () => ({ "x-hub-signature-256": sign(push).slice(0, 40) }), status: 401 },
    { name: "an empty GitLab token", body: push, headers: () => ({ "x-gitlab-token": "" }), status: 401 },
    { name: "a wrong GitLab token", body: push, headers: () => ({ "x-gitlab-token": `${secret}x` }), status: 401 },
    { name: "signed malformed JSON", body: '{"ref": "refs/heads/main",', headers: () => ({ "x-hub-signature-256": sign('{"ref": "refs/heads/main",') }), status: 400 },
    { name: "signed JSON of the wrong shape", body: '{"ref": 42}', headers: () => ({ "x-hub-signature-256": sign('{"ref": 42}') }), status: 400 },
    { name: "a signed sha that is not one", body: '{"after": "HEAD~1"}', headers: () => ({ "x-hub-signature-256": sign('{"after": "HEAD~1"}') }), status: 400 },
    { name: "signed JSON sent as a form", body: push, headers: () => ({ "content-type": "application/x-www-form-urlencoded", "x-hub-signature-256": sign(push) }), status: 400 },
    { name: "a signed form whose payload is not JSON", body: "payload=%7Bnope", headers: () => ({ "content-type": "application/x-www-form-urlencoded", "x-hub-signature-256": sign("payload=%7Bnope") }), status: 400 },
    { name: "signed XML", body: "<push ref='main'/>", headers: () => ({ "content-type": "application/xml", "x-hub-signature-256": sign("<push ref='main'/>") }), status: 400 },
  ];
  for (const { name, body, headers, status } of cases) {
    it(`refuses ${name} with ${status}, triggering nothing`, async () => {
      const before = pushes;
      const answer = await hook(body, headers());
      expect(answer.status).toBe(status);
      expect(answer.body.error).toEqual(expect.any(String));
      expect(pushes).toBe(before);
    });
  }

  it("accepts the same push correctly signed (so the refusals above were the faults')", async () => {
    const before = pushes;
    expect((await hook(push, { "content-type": "application/json", "x-hub-signature-256": sign(push) })).status).toBe(202);
    expect(pushes).toBe(before + 1);
  });

  it("refuses a body over 1 MB from its length, and a streamed one without reading it all", async () => {
    const before = pushes;
    const big = `{"ref":"refs/heads/main","pad":"${"x".repeat(1024 * 1024)}"}`;
    expect((await hook(big, { "content-type": "application/json", "x-hub-signature-256": sign(big) })).status).toBe(413);

    // 64 MB offered in chunks without a length: the answer must come long before the end.
    const chunk = Buffer.alloc(64 * 1024, "y");
    const { status, sent } = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const request = httpRequest(`${server.url}/hooks/git`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": sign("") } }, (response) => {
        answered = true;
        response.resume();
        resolve({ status: response.statusCode ?? 0, sent });
        request.destroy();
      });
      request.on("error", (error) => (answered ? undefined : reject(error)));
      const pump = () => {
        while (!answered && sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!request.write(chunk)) return void request.once("drain", pump);
        }
        if (!answered) request.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    expect(pushes).toBe(before);
    // The server is fine afterwards.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  }, 60_000);
});

describe("a NUL character in a query or a path (Postgres text cannot hold one)", () => {
  const requests = [
    "/?kind=%00",
    "/?namespace=a%00b",
    "/api/events?kind=%00",
    "/api/events?name=web%00",
    "/api/pods?namespace=%00",
    "/api/workloads/Deployment/default/web%00",
    "/api/workloads/Deployment/%00/web",
    "/api/nodes/n1%00",
    "/api/pods/default/web%00/logs",
    "/workloads/Deployment/default/web%00",
    "/nodes/%00",
  ];
  for (const path of requests) {
    it(`GET ${path} is a client error, not a 500`, async () => {
      const response = await app.request(`http://capstan.test${path}`);
      const text = await response.text();
      expect([400, 404], text.slice(0, 300)).toContain(response.status);
    });
  }
});

describe("random query strings on every GET endpoint", () => {
  const endpoints = () => [
    "/api/status",
    "/api/pods",
    "/api/services",
    "/api/jobs",
    "/api/events",
    "/api/history",
    "/api/commits",
    "/api/diff",
    "/api/nodes",
    "/api/nodes/n1",
    "/api/nodes/nope",
    "/api/pods/default/web-x/logs",
    "/api/revisions",
    `/api/revisions/${sha}`,
    "/api/revisions/not-a-sha",
    "/api/workloads",
    "/api/workloads/Deployment/default/web",
    "/api/workloads/Nope/..%2F../x",
    "/",
    "/workloads/Deployment/default/web",
    `/revisions/${sha}`,
    "/nodes/n1",
    "/metrics",
    "/readyz",
  ];
  const knownKeys = ["limit", "before", "after", "cursor", "kind", "namespace", "name", "node", "since", "type", "from", "to", "tailLines", "container", "follow", "reason", "sha", "q"];
  const value = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ maxLength: 30, unit: "binary" }),
    fc.integer().map(String),
    fc.constantFrom("", "-1", "0", "1e309", "NaN", "Infinity", "9007199254740993", "0x10", "true", "null", "[]", "{}", "%", "%zz", "%E0%A4%A", "../../etc/passwd", "<script>alert(1)</script>", "'; DROP TABLE objects; --", "\u0000"),
  );
  const pair = fc.tuple(fc.oneof(fc.constantFrom(...knownKeys), fc.string({ maxLength: 10 })), value, fc.boolean());
  // Raw (not percent-encoded) pairs are sent as they are, malformed escapes and all.
  const queryString = fc.array(pair, { maxLength: 5 }).map((pairs) =>
    pairs.map(([key, text, raw]) => (raw ? `${key}=${text}`.replace(/[#\s]/g, "") : `${encodeURIComponent(key)}=${encodeURIComponent(text)}`)).join("&"),
  );

  it(`answers 200, or 400/404/409 with an error, never 500 (${queriesPerEndpoint} query strings for each of 24 endpoints)`, async () => {
    const statuses: Record<number, number> = {};
    for (const path of endpoints()) {
      await fc.assert(
        fc.asyncProperty(queryString, async (query) => {
          const response = await app.request(`http://capstan.test${path}?${query}`);
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
          const text = await response.text();
          // 409: a commit prefix capstan has not seen (`/api/diff`), refused as the rollback refuses it.
          expect([200, 400, 404, 409], `${path}?${query}: ${text.slice(0, 300)}`).toContain(response.status);
          if (response.status >= 400 && path.startsWith("/api/")) expect((JSON.parse(text) as { error?: unknown }).error).toEqual(expect.any(String));
          // Whatever came in, nothing comes back unescaped into a page.
          if (response.headers.get("content-type")?.includes("text/html")) expect(text).not.toContain("<script>alert(1)</script>");
        }),
        { numRuns: queriesPerEndpoint },
      );
    }
    console.log(`query-string answers by status: ${JSON.stringify(statuses)}`);
  }, 170_000);
});

describe("random bodies to the API's actions, with the token", () => {
  it(`answer 400, 409 or 202, never 500 (${queriesPerEndpoint} bodies each)`, async () => {
    const head = await repo.revParse("HEAD");
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
      fc.record({ to: fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f]{4,40}$/), fc.constant(sha.slice(0, 7))), workload: fc.oneof(fc.string(), fc.constant("deployment/web")), dryRun: fc.jsonValue() }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
      fc.string({ maxLength: 50 }),
    );
    const statuses: Record<number, number> = {};
    for (const path of ["/api/rollback", "/api/sync"]) {
      await fc.assert(
        fc.asyncProperty(body, fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded"), async (text, type) => {
          const response = await app.request(`http://capstan.test${path}`, { method: "POST", body: text, headers: { "content-type": type, authorization: "Bearer faults-token" } });
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
          const answer = await response.text();
          expect([200, 202, 400, 404, 409], `${path} ${text}: ${answer}`).toContain(response.status);
          if (response.status >= 400) expect((JSON.parse(answer) as { error?: unknown }).error).toEqual(expect.any(String));
        }),
        { numRuns: queriesPerEndpoint },
      );
    }
    console.log(`action answers by status: ${JSON.stringify(statuses)}`);
    // Nothing to roll back to in a one-commit history: no random body pushed anything.
    expect(await repo.revParse("HEAD")).toBe(head);
  }, 120_000);
});
