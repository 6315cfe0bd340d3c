import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog } from "../../src/desired/index.ts";
import { GitSync, openGitSource } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, type LogSource } from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { seedCluster } from "./page/fixtures.ts";
import { attribute, element, hasElement, textOf } from "./page/html.ts";

/** GET / and the detail pages on real PostgreSQL and a real repository: what they show, escaped, under a strict CSP. */

const database = useTestDatabase();
let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let store: PgDesiredStore;
let rollouts: PgRolloutLog;
let sync: GitSync;

const configMap = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: "${value}"\n`;
const scriptSubject = "<script>alert(1)</script>";
const imageSubject = `"><img src=x onerror=alert(1)>`;

beforeEach(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
  repo = await createRepo();
  cache = await tempDir("capstan-page-");
  store = new PgDesiredStore(database().pool);
  rollouts = new PgRolloutLog(database().pool);
  sync = new GitSync({
    source: openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path }),
    store,
    clock: systemClock,
    log: silentLogger,
    // The URL as a user might configure it, credentials and all: the page must show it redacted.
    describe: { url: "https://deploy:s3cr3t-pass@git.example.com/team/manifests.git", branch: "main", path: "" },
    pollIntervalMs: 3_600_000,
  });
});

afterEach(async () => {
  await sync.stop();
  await repo.cleanup();
  await cache.cleanup();
});

async function commit(value: string, subject: string, author = { name: "Ada", email: "ada@example.com" }): Promise<string> {
  await repo.write("app.yaml", configMap(value));
  const sha = await repo.commit(subject, { author });
  await sync.syncOnce();
  return sha;
}

function app(extra: Partial<Parameters<typeof createStatusApp>[0]> = {}) {
  return createStatusApp({ store, rollouts, log: silentLogger, storeReachable: async () => true, ...extra });
}

async function page(path = "/", options: Partial<Parameters<typeof createStatusApp>[0]> = {}): Promise<{ status: number; html: string; headers: Headers }> {
  const response = await app(options).request(path);
  return { status: response.status, html: await response.text(), headers: response.headers };
}

describe("GET /", () => {
  it("shows each section from the stored objects: workloads with health and rollout, nodes, revisions, CronJobs and events", async () => {
    const first = await commit("1", "first config", { name: "Grace", email: "grace@example.com" });
    const second = await commit("2", "second config");
    await seedCluster(store);
    await store.recordEvent({ kind: "Deployment", namespace: "default", name: "web", type: "Warning", reason: "ProgressDeadlineExceeded", message: "rollout stalled", source: "deployment-controller" });

    const { status, html } = await page();
    expect(status).toBe(200);
    for (const id of ["workloads", "nodes", "revisions", "cronjobs", "events"]) expect(hasElement(html, "section", `id="${id}"`)).toBe(true);

    const web = element(html, "tr", `data-workload="Deployment/default/web"`);
    expect(attribute(web, "data-health")).toBe("Degraded");
    expect(textOf(web)).toContain("failed: ProgressDeadlineExceeded");
    expect(textOf(web)).toContain("1/2");
    expect(web).toContain(`href="/workloads/Deployment/default/web"`);
    expect(web).toMatch(/class="badge tone-bad">Degraded</);
    expect(attribute(element(html, "tr", `data-workload="DaemonSet/default/agent-logs"`), "data-health")).toBe("Healthy");

    const node = textOf(element(html, "tr", `data-node="node-a"`));
    expect(node).toContain("Ready");
    expect(node).toContain("10.0.0.5:2222");
    expect(node).toContain("cpu 250m of 2");
    expect(node).toContain("memory 128 MiB of 4.0 GiB");
    expect(node).toContain("capstan-agent 9.9.9");
    expect(node).toContain("SHA256:abcdefFINGERPRINT");
    expect(element(html, "tr", `data-node="node-a"`)).toContain(`href="/nodes/node-a"`);

    const newest = element(html, "tr", `data-revision="${second}"`);
    expect(textOf(element(newest, "td", `class="subject"`))).toBe("second config");
    expect(newest).toContain(`href="/revisions/${second}"`);
    expect(textOf(newest)).toContain("healthy");
    const older = element(html, "tr", `data-revision="${first}"`);
    expect(textOf(older)).toContain("Grace");
    // The live commit has nothing to roll back to itself; an older applied one has the form.
    expect(newest).not.toContain(`class="rollback"`);
    expect(older).toContain(`<form class="rollback" method="post" action="/actions/rollback">`);
    expect(older).toContain(`name="to" value="${first}"`);
    expect(html.indexOf(`data-revision="${second}"`)).toBeLessThan(html.indexOf(`data-revision="${first}"`));

    const cron = textOf(element(html, "tr", `data-cronjob="default/nightly"`));
    expect(cron).toContain("0 3 * * *");
    expect(cron).toContain("Failed: BackoffLimitExceeded");

    expect(textOf(element(html, "section", `id="events"`))).toContain("rollout stalled");
  });

  it("heads the page with the source (credentials redacted), the live commit and the sync state", async () => {
    const sha = await commit("1", "ship it", { name: "Ada Lovelace", email: "ada@example.com" });
    const { html } = await page();
    const source = textOf(element(html, "div", `data-testid="source"`));
    expect(source).toContain("https://git.example.com/team/manifests.git");
    expect(source).toContain("main");
    expect(html).not.toContain("s3cr3t-pass");
    const live = textOf(element(html, "div", `data-testid="live-commit"`));
    expect(live).toContain(sha.slice(0, 10));
    expect(live).toContain("ship it");
    expect(live).toContain("Ada Lovelace");
    expect(live).toMatch(/\d+s ago|\dm ago/);
    expect(attribute(element(html, "div", `data-testid="sync-state"`), "data-state")).toBe("in-sync");
  });

  it("lists a rejected commit's errors as file:line: message while the previous commit stays live", async () => {
    const good = await commit("1", "good");
    await repo.write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\nbogus: true\n");
    const bad = await repo.commit("add a broken manifest");
    await sync.syncOnce();
    const { html } = await page();
    const state = element(html, "div", `data-testid="sync-state"`);
    expect(attribute(state, "data-state")).toBe("rejected");
    expect(textOf(state)).toContain(bad.slice(0, 10));
    expect(textOf(state)).toMatch(/broken\.yaml:\d+:\d+.*bogus/);
    expect(textOf(element(html, "div", `data-testid="live-commit"`))).toContain(good.slice(0, 10));
  });

  it("says since when the source is unreachable", async () => {
    await commit("1", "good");
    const at = new Date(Date.now() - 5 * 60_000);
    await store.recordFetch({ url: "https://git.example.com/x.git", branch: "main", path: "", at, error: "connect ECONNREFUSED https://user:tok@git.example.com" });
    const { html } = await page();
    const state = element(html, "div", `data-testid="sync-state"`);
    expect(attribute(state, "data-state")).toBe("unreachable");
    expect(textOf(state)).toContain("source unreachable since 5m ago");
    expect(state).toContain(at.toISOString());
    expect(html).not.toContain("user:tok");
  });

  it("renders markup from commits, authors and events as text", async () => {
    const script = await commit("1", scriptSubject, { name: "<b>Mallory</b>", email: "m@example.com" });
    const image = await commit("2", imageSubject);
    await store.recordEvent({ kind: "Deployment", namespace: "default", name: "web", type: "Normal", reason: "Note", message: `<iframe src="//evil"></iframe>&<svg onload=alert(1)>`, source: "test" });
    const { html } = await page();
    expect(html).not.toContain("<script>alert(1)");
    expect(html).not.toContain("<img src=x");
    expect(html).not.toContain("<iframe");
    expect(html).not.toContain("<svg");
    expect(html).not.toContain("<b>Mallory");
    expect(textOf(element(element(html, "tr", `data-revision="${script}"`), "td", `class="subject"`))).toBe(scriptSubject);
    expect(textOf(element(element(html, "tr", `data-revision="${image}"`), "td", `class="subject"`))).toBe(imageSubject);
    expect(textOf(element(html, "div", `data-testid="live-commit"`))).toContain(imageSubject);
    expect(textOf(element(html, "section", `id="events"`))).toContain(`<iframe src="//evil"></iframe>&<svg onload=alert(1)>`);
    // The only script element is the page's own, by nonce.
    expect(html.match(/<script\b/g)).toHaveLength(1);
  });

  it("sends a strict CSP with a fresh nonce per response that matches the page's one script", async () => {
    const first = await page();
    const second = await page();
    const policy = first.headers.get("content-security-policy")!;
    for (const directive of ["default-src 'none'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      expect(policy).toContain(directive);
    }
    const nonceOf = (csp: string) => /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    const nonce = nonceOf(policy);
    expect(nonce).toBeTruthy();
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(attribute(element(first.html, "script", "nonce="), "nonce")).toBe(nonce);
    expect(nonceOf(second.headers.get("content-security-policy")!)).not.toBe(nonce);
    expect(first.headers.get("x-content-type-options")).toBe("nosniff");
    expect(first.headers.get("x-frame-options")).toBe("DENY");
    expect(first.headers.get("cache-control")).toBe("no-store");
    // No inline event handlers and no inline styles anywhere (the CSP would block them).
    expect(first.html).not.toMatch(/\son[a-z]+=/i);
    expect(first.html).not.toMatch(/\sstyle=/i);
  });

  it("serves the stylesheet and script as files with cache headers", async () => {
    const { html } = await page();
    const src = attribute(element(html, "script", "nonce="), "src")!;
    expect(src).toMatch(/^\/assets\/page\.js\?v=[0-9a-f]+$/);
    const script = await app().request(src);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(script.headers.get("cache-control")).toContain("immutable");
    expect(await script.text()).toContain("EventSource");
    const css = await app().request(attribute(/<link rel="stylesheet"[^>]*>/.exec(html)![0], "href")!);
    expect(css.headers.get("content-type")).toContain("text/css");
    expect((await app().request("/assets/nope.js")).status).toBe(404);
  });

  it("filters events by object and pages through them with the store's cursor, newest first", async () => {
    for (let index = 0; index < 60; index++) {
      const at = new Date(Date.UTC(2026, 10, 23, 10, 0, index));
      await store.recordEvent({ kind: "Deployment", namespace: "default", name: "web", type: "Normal", reason: "Scaled", message: `web event ${index}`, source: "test", at });
      await store.recordEvent({ kind: "Node", namespace: "", name: "node-a", type: "Normal", reason: "Heartbeat", message: `node event ${index}`, source: "test", at });
    }
    const firstPage = (await page("/?kind=Deployment&namespace=default&name=web")).html;
    const events = element(firstPage, "section", `id="events"`);
    const messages = (html: string) => [...html.matchAll(/<td class="message">([^<]*)<\/td>/g)].map((match) => match[1]);
    expect(messages(events)).toHaveLength(50);
    expect(messages(events)[0]).toBe("web event 59");
    expect(events).not.toContain("node event");
    const next = /<a rel="next" href="([^"]+)"/.exec(events)![1]!.replace(/&amp;/g, "&");
    expect(next).toMatch(/kind=Deployment.*before=\d+/);
    const secondPage = element((await page(next)).html, "section", `id="events"`);
    expect(messages(secondPage)).toEqual(Array.from({ length: 10 }, (_, index) => `web event ${9 - index}`));
    expect(secondPage).not.toContain(`rel="next"`);
    expect((await page("/?before=nope")).status).toBe(400);
  });

  it("disables the forms and says why while no CAPSTAN_TOKEN is configured", async () => {
    await commit("1", "one");
    await commit("2", "two");
    const off = (await page()).html;
    expect(textOf(element(off, "p", `data-testid="actions-disabled"`))).toMatch(/disabled.*CAPSTAN_TOKEN/);
    expect(element(off, "form", `class="sync-now"`)).toMatch(/<button type="submit" disabled/);
    expect(element(off, "form", `class="rollback"`)).toMatch(/<button type="submit" disabled/);
    const on = (await page("/", { token: "a-long-enough-token" })).html;
    expect(hasElement(on, "p", `data-testid="actions-disabled"`)).toBe(false);
    expect(element(on, "form", `class="rollback"`)).not.toMatch(/disabled/);
  });
});

describe("detail pages", () => {
  const logs = (answer: (onText: (container: string, text: string) => void) => Promise<void>): LogSource => ({ logs: (_params, onText) => answer(onText) });

  it("shows a workload's pods with node, phase, restarts, readiness, last error and log tail, and env names without values", async () => {
    await seedCluster(store);
    const { status, html } = await page("/workloads/Deployment/default/web", { nodes: logs(async (onText) => onText("app", "listening on :8080\ncrashed: <boom>\n")) });
    expect(status).toBe(200);
    const pod = element(html, "article", `data-pod="default/web-abc-1"`);
    const text = textOf(pod);
    expect(text).toContain("node-a");
    expect(attribute(pod, "data-phase")).toBe("Running");
    expect(attribute(pod, "data-ready")).toBe("false");
    expect(text).toMatch(/restarts\s*4/);
    expect(text).toContain("app: CrashLoopBackOff: back-off 40s restarting app");
    expect(text).toContain("crashed: <boom>");
    expect(html).not.toContain("<boom>");
    expect(textOf(element(html, "tr", `data-container="app"`))).toContain("DB_PASSWORD");
    expect(html).toContain("LITERAL_PASSWORD");
    expect(html).not.toContain("hunter2-literal");
  });

  it("says logs are unavailable when the node does not answer in time, instead of failing the page", async () => {
    await seedCluster(store);
    const started = Date.now();
    const { status, html } = await page("/workloads/Deployment/default/web", { nodes: logs(() => new Promise(() => undefined)) });
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(textOf(element(html, "p", `data-testid="logs-unavailable"`))).toMatch(/logs unavailable: no answer within \d+ ms/);
    const failing = await page("/workloads/Deployment/default/web", { nodes: logs(() => Promise.reject(new Error("node node-a is not connected"))) });
    expect(failing.status).toBe(200);
    expect(textOf(element(failing.html, "p", `data-testid="logs-unavailable"`))).toContain("node node-a is not connected");
  });

  it("shows a node and the pods placed there", async () => {
    await seedCluster(store);
    const { status, html } = await page("/nodes/node-a");
    expect(status).toBe(200);
    expect(textOf(element(html, "section", `id="summary"`))).toContain("capstan-agent 9.9.9");
    expect(hasElement(html, "tr", `data-pod="default/web-abc-1"`)).toBe(true);
  });

  it("shows a commit's recorded changes, by full sha or prefix", async () => {
    await commit("1", "one");
    const second = await commit("2", "two\n\nwith a body <em>escaped</em>");
    for (const sha of [second, second.slice(0, 8)]) {
      const { status, html } = await page(`/revisions/${sha}`);
      expect(status).toBe(200);
      const change = textOf(element(html, "tr", `data-change="ConfigMap/default/app"`));
      expect(change).toContain("data.value");
      expect(change).toContain("1");
      expect(change).toContain("2");
      expect(html).not.toContain("<em>");
    }
  });

  it("answers an HTML 404 for unknown objects and paths, and keeps JSON for the API", async () => {
    for (const path of ["/workloads/Deployment/default/nope", "/workloads/Secret/default/db", "/nodes/nope", `/revisions/${"f".repeat(40)}`, "/no/such/page"]) {
      const { status, html, headers } = await page(path);
      expect(status, path).toBe(404);
      expect(headers.get("content-type")).toContain("text/html");
      expect(headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(html).not.toContain("<script>alert");
    }
    const malformed = await page("/revisions/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    expect(malformed.status).toBe(400);
    expect(malformed.html).not.toContain("<script>alert");
    expect(textOf(element(malformed.html, "p", `role="alert"`))).toContain("bad sha");
    const api = await app().request("/api/no-such-endpoint");
    expect(api.status).toBe(404);
    expect(api.headers.get("content-type")).toContain("application/json");
  });
});
