import { describe, expect, it } from "vitest";
import { useBrowser } from "../helpers/browser.ts";
import { usePageCapstan } from "../helpers/page-capstan.ts";
import { configMap, countNavigations, liveState, short, waitForLive } from "../helpers/status-page.ts";

/**
 * The page's live updates where the stream is not simply open: a change that
 * lands between the page's HTML and its event stream opening (a slow network),
 * and a stream answered with an error page for a while (a reverse proxy's 502
 * while capstan restarts), after which EventSource gives up and the page's
 * script opens a new one. Either way the change was never announced on a
 * stream the page had open; the page must still show it once connected,
 * without a reload.
 */
const browser = useBrowser();

describe("live updates of the status page around its event stream", () => {
  const capstan = usePageCapstan({ files: { "settings.yaml": configMap("settings", "one") } });

  it("shows a change made after the page was served but before its event stream opened", { timeout: 30_000 }, async () => {
    const { page } = browser;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The first stream request waits until the commit below is live in the store.
    let first = true;
    await page.route("**/api/events/stream", async (route) => {
      if (first) {
        first = false;
        await held;
      }
      await route.continue();
    });
    await page.goto(capstan.url);
    const navigations = countNavigations(page);
    const sha = await capstan.commit({ "settings.yaml": configMap("settings", "early") }, "Committed before the stream opened");
    await capstan.waitForLive(sha);
    // The sync's last write (the fetch record, ≈ 1 s after the apply) is announced too; let it pass, so
    // that nothing announced on the stream once it opens can stand in for what happened before.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await page.getByTestId("live-commit").textContent()).not.toContain(short(sha));
    release();
    await waitForLive(page);
    await expect.poll(() => page.getByTestId("live-commit").textContent(), { timeout: 5_000 }).toContain(short(sha));
    expect(navigations()).toBe(0);
    browser.expectNoProblems();
  });

  it("shows a change made while the stream was answered by an error page, once a new stream opens", async () => {
    const { page } = browser;
    let failing = false;
    await page.route("**/api/events/stream", async (route) => {
      if (failing) await route.fulfill({ status: 502, contentType: "text/html", body: "<h1>502 Bad Gateway</h1>" });
      else await route.continue();
    });
    await page.goto(capstan.url);
    await waitForLive(page);
    const navigations = countNavigations(page);
    // The proxy in front answers 502 while capstan restarts: EventSource closes for good on a non-stream answer.
    failing = true;
    await capstan.stopControlPlane();
    await expect.poll(() => liveState(page), { timeout: 10_000 }).toBe("closed");
    const sha = await capstan.commit({ "settings.yaml": configMap("settings", "while-502") }, "Committed while the proxy said 502");
    await capstan.startControlPlane();
    await capstan.waitForLive(sha);
    failing = false;
    await waitForLive(page);
    await expect.poll(() => page.getByTestId("live-commit").textContent(), { timeout: 5_000 }).toContain(short(sha));
    expect(navigations()).toBe(0);
    // The 502s and the refused connections of the restart, nothing else.
    browser.expectNoProblems([/status of 502|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING|text\/html.*not.*text\/event-stream|MIME type/i]);
  }, 60_000);
});
