import { describe, expect, it, onTestFinished } from "vitest";
import { useBrowser } from "../helpers/browser.ts";
import { usePageCapstan } from "../helpers/page-capstan.ts";
import { configMap, countNavigations, liveState, pageSections, short, waitForLive } from "../helpers/status-page.ts";

/**
 * The status page in real headless Chromium against a real capstan (control
 * plane with real PostgreSQL, a real Git repository, the local node running
 * real processes): what a user sees first, that it follows Git and the
 * store live (also across a server restart), that hostile text stays text,
 * that a failed rollout is red with its reason down to the pod, and that the
 * actions — rollback and sync now — need the token and a genuine form, and
 * end as a Git commit or a fetch. Without a token: page-actions-off.test.ts.
 */
const browser = useBrowser();

const token = "page-e2e-token-0123456789";
/** Bad health on the page (the summary's word, in whatever case the page writes it). */
const badHealth = /^(degraded|failed|missing)$/i;

/** Markup in a manifest field (a shell comment, so the command still just exits): the workload's page must show it as text. */
const hostileComment = "# <script>alert(3)</script><img src=x onerror=alert(4)>";

/** A Deployment whose only container exits at once: the rollout misses its 3 s deadline. */
const crashing = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: crash
spec:
  replicas: 1
  progressDeadlineSeconds: 3
  selector:
    matchLabels: { app: crash }
  template:
    metadata:
      labels: { app: crash }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          command: ["sh", "-c", "exit 1 ${hostileComment}"]
`;

/** Whether a computed CSS colour is clearly red: red dominates green and blue. */
function isRedish(color: string): boolean {
  const [red = 0, green = 0, blue = 0] = (color.match(/[\d.]+/g) ?? []).map(Number);
  return red >= 150 && red - green >= 70 && red - blue >= 70;
}

describe("the status page with actions on (CAPSTAN_TOKEN) and the local node", () => {
  const capstan = usePageCapstan({ token, localNode: true, files: { "settings.yaml": configMap("settings", "one") } });

  it("loads: the header names the source, branch and live commit; every section is there; no console errors or CSP violations", async () => {
    const { page } = browser;
    const live = await capstan.repo.revParse();
    const response = await page.goto(capstan.url);
    expect(response?.status()).toBe(200);
    // A strict CSP: scripts only by this answer's nonce, nothing inline or eval'd, and every script on the page carries it.
    const csp = response?.headers()["content-security-policy"] ?? "";
    const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? /default-src ([^;]*)/.exec(csp)?.[1] ?? "";
    const nonce = /'nonce-([^']+)'/.exec(scriptSrc)?.[1];
    expect(nonce, csp).toBeDefined();
    expect(scriptSrc).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    const scripts = await page.locator("script").evaluateAll((elements) => elements.map((element) => ({ nonce: (element as unknown as { nonce: string }).nonce, src: (element as unknown as { src: string }).src })));
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(script).toEqual({ nonce, src: expect.stringMatching(new RegExp(`^${capstan.url}/`)) });
    const source = page.getByTestId("source");
    await expect.poll(() => source.textContent()).toContain(capstan.repo.dir);
    expect(await source.textContent()).toContain("main");
    const commit = (await page.getByTestId("live-commit").textContent()) ?? "";
    expect(commit).toContain(short(live));
    expect(commit).toContain("First commit: the cluster");
    expect(commit).toContain("Capstan Test");
    expect(await page.getByTestId("sync-state").getAttribute("data-state")).toBe("in-sync");
    for (const id of pageSections) expect(await page.locator(`section#${id}`).count(), `section#${id}`).toBe(1);
    await expect.poll(() => page.locator('tr[data-node="local"]').count(), { timeout: 20_000 }).toBe(1);
    await waitForLive(page);
    browser.expectNoProblems();
  });

  it("shows a new commit live, without a reload", async () => {
    const { page } = browser;
    await page.goto(capstan.url);
    await waitForLive(page);
    const navigations = countNavigations(page);
    const sha = await capstan.commit({ "settings.yaml": configMap("settings", "two") }, "Settings two, shown live");
    const header = page.getByTestId("live-commit");
    await expect.poll(() => header.textContent(), { timeout: 10_000 }).toContain("Settings two, shown live");
    expect(await header.textContent()).toContain(short(sha));
    expect(await page.locator(`tr[data-revision="${sha}"] .subject`).textContent()).toBe("Settings two, shown live");
    expect(navigations()).toBe(0);
    browser.expectNoProblems();
  });

  it("renders hostile commit subjects as inert text: no dialog, no element made from them", async () => {
    const { page } = browser;
    const subjects = ["<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`];
    const shas: string[] = [];
    for (const [index, subject] of subjects.entries()) {
      shas.push(await capstan.commit({ "settings.yaml": configMap("settings", `xss-${index}`) }, subject));
      await capstan.waitForLive(shas[index]!);
    }
    await page.goto(capstan.url);
    await waitForLive(page);
    for (const [index, subject] of subjects.entries()) {
      await expect.poll(() => page.locator(`tr[data-revision="${shas[index]}"] .subject`).textContent()).toBe(subject);
    }
    expect(await page.getByTestId("live-commit").textContent()).toContain(subjects[1]);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    // Once more after a live refresh of the sections, which may render differently from the server.
    await capstan.commit({ "settings.yaml": configMap("settings", "after-xss") }, "After the hostile ones");
    await expect.poll(() => page.getByTestId("live-commit").textContent(), { timeout: 10_000 }).toContain("After the hostile ones");
    expect(await page.locator(`tr[data-revision="${shas[0]}"] .subject`).textContent()).toBe(subjects[0]);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(browser.problems().filter((problem) => problem.kind === "dialog")).toEqual([]);
    browser.expectNoProblems();
  });

  it("shows an event live as soon as it is stored, and filters events by object", async () => {
    const { page } = browser;
    await page.goto(capstan.url);
    await waitForLive(page);
    const navigations = countNavigations(page);
    const message = `Probe of the live events <b>${Date.now()}</b>`;
    const stored = Date.now();
    await capstan.store.recordEvent({ kind: "Deployment", namespace: "default", name: "probe", type: "Warning", reason: "LiveProbe", message, source: "page-e2e" });
    const row = page.locator("#events tr[data-event]", { hasText: message });
    // The contract is within 1 s of the change; the bound is generous for a loaded 2-core machine, the latency is printed.
    await expect.poll(() => row.count(), { timeout: 5_000, interval: 50 }).toBe(1);
    process.stderr.write(`event shown ${Date.now() - stored} ms after it was stored\n`);
    expect(await row.locator(".message").textContent()).toBe(message);
    expect(await row.getAttribute("data-type")).toBe("Warning");
    expect(navigations()).toBe(0);

    const filter = page.locator("form.event-filter");
    await filter.locator('input[name="name"]').fill("probe");
    await filter.locator('button[type="submit"]').click();
    await page.waitForURL(/[?&]name=probe/);
    const rows = page.locator("#events tr[data-event]");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain("LiveProbe");
    browser.expectNoProblems();
  });

  it("shows a rejected commit's errors as file:line in the sync state, live, and in sync again once fixed", async () => {
    const { page } = browser;
    await page.goto(capstan.url);
    await waitForLive(page);
    const live = await capstan.repo.revParse();
    await capstan.commit({ "broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\nspec:\n  nonsense: true\n" }, "A manifest that does not validate");
    let fixed: string | undefined;
    const fix = async () => (fixed ??= await capstan.commit({ "broken.yaml": null }, "Remove the broken manifest"));
    // Fixed whatever happens here: a rejected tip would reject every later test's commits too.
    onTestFinished(async () => void (await fix()));
    const state = page.getByTestId("sync-state");
    await expect.poll(() => state.getAttribute("data-state"), { timeout: 10_000 }).toBe("rejected");
    // The error at its line (line 5, `spec:`), with the message; a column may follow the line.
    expect(await state.textContent()).toMatch(/broken\.yaml:5(:\d+)?:? .*unknown field "spec"/);
    // The previous commit stays live.
    expect(await page.getByTestId("live-commit").textContent()).toContain(short(live));
    await fix();
    await expect.poll(() => state.getAttribute("data-state"), { timeout: 10_000 }).toBe("in-sync");
    expect(await page.getByTestId("live-commit").textContent()).toContain(short(fixed!));
    browser.expectNoProblems();
  });

  it("shows a failed rollout in red, saying the health word and the reason, and its pods on the workload's page", async () => {
    const { page } = browser;
    await page.goto(capstan.url);
    await waitForLive(page);
    const navigations = countNavigations(page);
    await capstan.commit({ "crash.yaml": crashing }, "A deployment that crashes");
    const row = page.locator('tr[data-workload="Deployment/default/crash"]');
    // The container exits at once; after the 3 s progress deadline the rollout fails (live, no reload).
    await expect.poll(() => row.getAttribute("data-health"), { timeout: 60_000 }).toMatch(badHealth);
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toMatch(/failed: ProgressDeadlineExceeded/);
    const health = (await row.getAttribute("data-health"))!;
    // The deepest element in the row that says the health word carries the red (text or background).
    const colours = await row.evaluate((element, word) => {
      const all = [element, ...element.querySelectorAll("*")] as Array<{ textContent: string | null; children: { length: number } }>;
      const saying = all.filter((each) => each.textContent?.trim().toLowerCase() === word.toLowerCase());
      const view = (globalThis as unknown as { getComputedStyle(e: unknown): { color: string; backgroundColor: string } }).getComputedStyle;
      return saying.map((each) => ({ color: view(each).color, background: view(each).backgroundColor }));
    }, health);
    expect(colours.length, `an element in the row saying "${health}"`).toBeGreaterThan(0);
    expect(colours.some(({ color, background }) => isRedish(color) || isRedish(background)), JSON.stringify(colours)).toBe(true);
    expect(navigations()).toBe(0);

    // Its name leads to the workload's page: the pod on the local node, restarting, with its last error.
    await row.getByRole("link", { name: "crash", exact: true }).click();
    await page.waitForURL(`${capstan.url}/workloads/Deployment/default/crash`);
    const pod = page.locator('article.pod[data-pod^="default/crash-"]');
    await expect.poll(() => pod.count()).toBeGreaterThan(0);
    expect(await pod.first().getByRole("link", { name: "local", exact: true }).getAttribute("href")).toBe("/nodes/local");
    await expect.poll(async () => (await pod.first().locator(".last-error").textContent()) ?? "", { timeout: 20_000 }).toMatch(/CrashLoopBackOff|exit(ed)? (with )?code 1/i);
    expect(await page.locator("#rollouts").textContent()).toMatch(/ProgressDeadlineExceeded/);
    expect(await page.locator('tr[data-container="main"]').textContent()).toContain(hostileComment);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    // And the node's page, from there.
    await pod.first().getByRole("link", { name: "local", exact: true }).click();
    await page.waitForURL(`${capstan.url}/nodes/local`);
    expect(await page.locator("h1").textContent()).toContain("local");
    browser.expectNoProblems();
  }, 90_000);

  it("keeps updating across a server restart: the page reconnects and shows a commit made meanwhile", async () => {
    const { page } = browser;
    await page.goto(capstan.url);
    await waitForLive(page);
    const navigations = countNavigations(page);
    await capstan.stopControlPlane();
    await expect.poll(() => liveState(page), { timeout: 10_000 }).not.toBe("connected");
    const sha = await capstan.commit({ "settings.yaml": configMap("settings", "while-down") }, "Committed while capstan was down");
    await capstan.startControlPlane();
    await waitForLive(page);
    await expect.poll(() => page.getByTestId("live-commit").textContent(), { timeout: 20_000 }).toContain("Committed while capstan was down");
    expect(await page.getByTestId("live-commit").textContent()).toContain(short(sha));
    expect(navigations()).toBe(0);
    // The EventSource's failed reconnects while the server was down are expected; nothing else.
    browser.expectNoProblems([/ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING/]);
  }, 60_000);

  it("refuses the rollback button without the token typed, and pushes a revert commit with it", async () => {
    const { page } = browser;
    const tip = await capstan.repo.revParse();
    // The first commit: applied, not live, and its tree differs from the tip's (no crashing Deployment).
    const target = await capstan.repo.git("rev-list", "--max-parents=0", "HEAD");
    await page.goto(capstan.url);
    const form = page.locator(`tr[data-revision="${target}"] form.rollback`);
    expect(await form.getAttribute("action")).toBe("/actions/rollback");
    expect(await form.locator('input[name="to"]').inputValue()).toBe(target);

    const refused = page.waitForResponse((response) => response.url().endsWith("/actions/rollback"));
    await form.locator('button, input[type="submit"]').first().click();
    expect([401, 403]).toContain((await refused).status());
    await expect.poll(() => page.locator('[role="alert"]').count()).toBeGreaterThan(0);
    expect(await page.locator('[role="alert"]').first().textContent()).toMatch(/token/i);
    expect(await capstan.repo.revParse()).toBe(tip);

    await page.goto(capstan.url);
    const wrong = page.locator(`tr[data-revision="${target}"] form.rollback`);
    await wrong.locator('input[name="token"]').fill("not-the-token-0123456789");
    const forbidden = page.waitForResponse((response) => response.url().endsWith("/actions/rollback"));
    await wrong.locator('button, input[type="submit"]').first().click();
    expect((await forbidden).status()).toBe(403);
    await expect.poll(() => page.locator('[role="alert"]').count()).toBeGreaterThan(0);
    expect(await capstan.repo.revParse()).toBe(tip);

    await page.goto(capstan.url);
    const again = page.locator(`tr[data-revision="${target}"] form.rollback`);
    await again.locator('input[name="token"]').fill(token);
    await again.locator('button, input[type="submit"]').first().click();
    await expect.poll(() => page.locator('[role="status"]').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    const head = await capstan.repo.revParse();
    expect(head).not.toBe(tip);
    expect(await capstan.repo.git("log", "-1", "--format=%P %s")).toBe(`${tip} Revert to ${short(target)}: ${await capstan.repo.git("log", "-1", "--format=%s", target)}`);
    expect(await page.locator('[role="status"]').first().textContent()).toContain(short(head));
    // The page never shows the token it was given.
    expect(await page.content()).not.toContain(token);
    browser.expectNoProblems([/status of 40[13]/]);
  }, 60_000);

  it("asks for a sync with the token, and refuses a form whose CSRF token was tampered with", async () => {
    const { page } = browser;
    const tip = await capstan.repo.revParse();
    await page.goto(capstan.url);
    const sync = page.locator("form.sync-now");
    await sync.locator('input[name="token"]').fill(token);
    await sync.locator('button, input[type="submit"]').first().click();
    await expect.poll(() => page.locator('[role="status"]').count(), { timeout: 10_000 }).toBeGreaterThan(0);

    await page.goto(capstan.url);
    const form = page.locator(`tr[data-revision="${await capstan.repo.git("rev-list", "--max-parents=0", "HEAD")}"] form.rollback`);
    await form.locator('input[name="csrf"]').evaluate((input, value) => ((input as unknown as { value: string }).value = value), "forged-csrf-token-0123456789");
    await form.locator('input[name="token"]').fill(token);
    const refused = page.waitForResponse((response) => response.url().endsWith("/actions/rollback"));
    await form.locator('button, input[type="submit"]').first().click();
    expect((await refused).status()).toBe(403);
    await expect.poll(() => page.locator('[role="alert"]').count()).toBeGreaterThan(0);
    expect(await capstan.repo.revParse()).toBe(tip);
    browser.expectNoProblems([/status of 403/]);
  }, 60_000);
});
