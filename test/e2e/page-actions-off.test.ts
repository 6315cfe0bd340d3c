import { describe, expect, it } from "vitest";
import { useBrowser } from "../helpers/browser.ts";
import { usePageCapstan } from "../helpers/page-capstan.ts";
import { configMap, liveState, pageSections, short } from "../helpers/status-page.ts";

/**
 * The status page of a capstan started without CAPSTAN_TOKEN, in real
 * headless Chromium: its actions are shown disabled, saying why, and the
 * page works as plain HTML with JavaScript off.
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
    for (const button of await page.locator("form.sync-now").locator('button, input[type="submit"]').all()) expect(await button.isDisabled()).toBe(true);
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
