import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactDir, saveArtifacts, useBrowser } from "./browser.ts";

/** The harness itself: what it reports must be what the page did, or the page's tests prove nothing. */
const browser = useBrowser();
let server: Server;
let base = "";

const pages: Record<string, { csp?: string; body: string }> = {
  "/clean": { csp: "default-src 'self'; script-src 'self'", body: "<p id=clean>clean</p><script src=/ok.js></script>" },
  "/ok.js": { body: "document.body.dataset.ran = 'yes';" },
  "/inline": { csp: "default-src 'self'; script-src 'self'", body: "<p>inline</p><script>document.title = 'ran'</script>" },
  "/noisy": { body: "<script>console.error('something broke'); alert('hi'); throw new Error('uncaught here')</script>" },
};

beforeAll(async () => {
  server = createServer((request, response) => {
    const page = pages[request.url ?? ""];
    if (!page) return void response.writeHead(404).end();
    const type = request.url!.endsWith(".js") ? "text/javascript" : "text/html";
    response.writeHead(200, { "content-type": type, ...(page.csp ? { "content-security-policy": page.csp } : {}) });
    response.end(page.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("the Chromium harness", () => {
  it("runs a page's allowed script and reports nothing for a clean page", async () => {
    await browser.page.goto(`${base}/clean`);
    await expect.poll(() => browser.page.evaluate("document.body.dataset.ran")).toBe("yes");
    browser.expectNoProblems();
  });

  it("reports an inline script the CSP blocked", async () => {
    await browser.page.goto(`${base}/inline`);
    await expect.poll(() => browser.problems().filter((problem) => problem.kind === "csp").length).toBeGreaterThan(0);
    expect(await browser.page.title()).toBe("");
    expect(browser.problems().find((problem) => problem.kind === "csp")?.text).toMatch(/script-src/);
    expect(() => browser.expectNoProblems()).toThrow();
  });

  it("reports console errors, uncaught exceptions and dialogs, and lets a test excuse what it expects", async () => {
    await browser.page.goto(`${base}/noisy`);
    await expect.poll(() => browser.problems().map((problem) => problem.kind).sort()).toEqual(["console", "dialog", "pageerror"]);
    expect(browser.problems().find((problem) => problem.kind === "dialog")?.text).toBe("alert: hi");
    browser.expectNoProblems([/something broke/, /alert: hi/, /uncaught here/]);
  });

  it("gives each test a fresh context: nothing carried over from the last one", async () => {
    expect(browser.problems()).toEqual([]);
    expect(browser.context.pages()).toHaveLength(1);
  });

  it("opens a context without JavaScript on request", async () => {
    const page = await browser.newPage({ javaScriptEnabled: false });
    await page.goto(`${base}/clean`);
    expect(await page.textContent("#clean")).toBe("clean");
    expect(await page.evaluate("document.body.dataset.ran ?? 'not run'")).toBe("not run");
  });

  it("writes a full-page screenshot and the HTML of every open page for a failed test", async (context) => {
    await browser.page.goto(`${base}/clean`);
    await saveArtifacts(context, [browser.context]);
    const stem = join(artifactDir, "browser-the_Chromium_harness-writes_a_full-page_screenshot_and_the_HTML_of_every_open_page_for_a_failed_test");
    try {
      expect(await readFile(`${stem}.html`, "utf8")).toContain('<p id="clean">clean</p>');
      expect((await readFile(`${stem}.png`)).subarray(1, 4).toString()).toBe("PNG");
    } finally {
      await rm(`${stem}.html`, { force: true });
      await rm(`${stem}.png`, { force: true });
    }
  });
});
