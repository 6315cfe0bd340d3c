import { rename } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { useBrowser } from "../helpers/browser.ts";
import { runGit } from "../helpers/git-fixture.ts";
import { usePageCapstan } from "../helpers/page-capstan.ts";
import { configMap, liveState, pageSections, short, waitForLive } from "../helpers/status-page.ts";

/**
 * The status page of a capstan started without CAPSTAN_TOKEN, in real
 * headless Chromium: its actions are shown disabled, saying why; the header
 * says when the Git source is unreachable; a Secret's value never shows; and
 * the page works as plain HTML with JavaScript off.
 */
const browser = useBrowser();

describe("the status page with actions off (no CAPSTAN_TOKEN) and no node", () => {
  const capstan = usePageCapstan({ files: { "settings.yaml": configMap("settings", "one") } });

  it("disables the buttons and says why", async () => {
    const { page } = browser;
    // A second commit, so that the first (no longer live) offers a rollback.
    await capstan.waitForLive(await capstan.commit({ "settings.yaml": configMap("settings", "two") }, "Settings two"));
    await page.goto(capstan.url);
    const disabled = page.getByTestId("actions-disabled");
    expect(await disabled.textContent()).toMatch(/CAPSTAN_TOKEN/);
    expect(await disabled.isVisible()).toBe(true);
    const rollbacks = page.locator("form.rollback").locator('button, input[type="submit"]');
    expect(await rollbacks.count()).toBeGreaterThan(0);
    for (const button of await rollbacks.all()) expect(await button.isDisabled()).toBe(true);
    const syncs = page.locator("form.sync-now").locator('button, input[type="submit"]');
    expect(await syncs.count()).toBeGreaterThan(0);
    for (const button of await syncs.all()) expect(await button.isDisabled()).toBe(true);
    browser.expectNoProblems();
  });

  it("says, live, since when the Git source is unreachable, and in sync again once it is back", async () => {
    const { page } = browser;
    await page.goto(capstan.url);
    await waitForLive(page);
    const state = page.getByTestId("sync-state");
    expect(await state.getAttribute("data-state")).toBe("in-sync");
    const moved = `${capstan.repo.dir}.moved`;
    await rename(capstan.repo.dir, moved);
    try {
      capstan.controlPlane.sync.trigger();
      await expect.poll(() => state.getAttribute("data-state"), { timeout: 15_000 }).toBe("unreachable");
      expect(await state.textContent()).toMatch(/since/i);
      expect(await page.getByTestId("live-commit").textContent()).toContain(short(await runGit(moved, ["rev-parse", "HEAD"])));
    } finally {
      await rename(moved, capstan.repo.dir);
    }
    capstan.controlPlane.sync.trigger();
    await expect.poll(() => state.getAttribute("data-state"), { timeout: 15_000 }).toBe("in-sync");
    browser.expectNoProblems();
  });

  it("never shows a Secret's value, on the overview or on its commit's page", async () => {
    const { page } = browser;
    const value = "hunter2-page-e2e-secret-value";
    const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: credentials\nstringData:\n  password: ${value}\n`;
    const sha = await capstan.commit({ "secret.yaml": secret }, "Add the credentials");
    await capstan.waitForLive(sha);
    const forms = [value, Buffer.from(value).toString("base64")];
    await page.goto(capstan.url);
    for (const form of forms) expect(await page.content()).not.toContain(form);
    await page.locator(`tr[data-revision="${sha}"] a[href="/revisions/${sha}"]`).first().click();
    await page.waitForURL(`${capstan.url}/revisions/${sha}`);
    // The page shows the Secret's change, without its data.
    expect(await page.locator("main").textContent()).toContain("credentials");
    for (const form of forms) expect(await page.content()).not.toContain(form);
    browser.expectNoProblems();
  });

  it("works without JavaScript: the header and every section are served as HTML", async () => {
    const page = await browser.newPage({ javaScriptEnabled: false });
    const live = await capstan.repo.revParse();
    await page.goto(capstan.url);
    expect(await page.getByTestId("live-commit").textContent()).toContain(short(live));
    for (const id of pageSections) expect(await page.locator(`section#${id}`).isVisible(), `section#${id}`).toBe(true);
    expect(await page.locator(`tr[data-revision="${live}"] .subject`).textContent()).toBe(await capstan.repo.git("log", "-1", "--format=%s"));
    expect(await liveState(page)).not.toBe("connected");
  });
});
