/**
 * Real headless Chromium for tests of the status page: Debian's
 * /usr/bin/chromium driven by playwright-core (no browser download).
 *
 * `useBrowser()` gives a test file one browser (launched before the first
 * test, closed after the last even when tests failed) and each test a fresh
 * context and page. Everything a page does wrong on its own is collected —
 * console errors, uncaught exceptions, Content-Security-Policy violations,
 * dialogs (alert/confirm: an XSS that ran) — so a test can assert that none
 * happened. When a test fails, a full-page screenshot and the HTML of every
 * page it opened are written to test-artifacts/browser/ (git-ignored), named
 * after the file and the test.
 *
 * A missing Chromium fails the file with a message saying how to install it:
 * CI installs it (.ci/run), and a skipped browser test would hide that.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, expect, type TestContext } from "vitest";

/** Debian's package; CHROMIUM_PATH points elsewhere (another distribution's chromium). */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Where failed tests leave their screenshots and HTML, relative to the repository root. */
export const artifactDir = resolve(import.meta.dirname, "..", "..", "test-artifacts", "browser");

/** Something a page did that a working page never does. */
export interface PageProblem {
  kind: "console" | "pageerror" | "csp" | "dialog";
  /** The page's URL when it happened. */
  url: string;
  text: string;
}

export interface BrowserHarness {
  /** The file's browser (inside tests and hooks). */
  readonly browser: Browser;
  /** This test's context (JavaScript on, default viewport). */
  readonly context: BrowserContext;
  /** This test's page, in `context`. */
  readonly page: Page;
  /**
   * Another context for this test with its own options (e.g. `javaScriptEnabled: false`),
   * watched like the default one and closed after the test.
   */
  newPage(options?: BrowserContextOptions): Promise<Page>;
  /** Everything every page of this test did wrong so far. */
  problems(): PageProblem[];
  /**
   * Asserts that no page of this test logged a console error, threw, broke
   * the CSP or opened a dialog; `allow` excuses problems whose text matches
   * (e.g. the failed reconnects while a test restarts the server on purpose).
   */
  expectNoProblems(allow?: RegExp[]): void;
}

/** Reported by the init script below through an exposed binding. */
const cspBinding = "__capstanTestCspViolation";

/**
 * Runs in every frame before the page's own scripts. A CSP violation also
 * reaches the console in Chromium, but the event names the directive and the
 * blocked URI, and it fires for violations that log nothing (report-only).
 */
const cspListener = `document.addEventListener("securitypolicyviolation", (event) => {
  const report = globalThis[${JSON.stringify(cspBinding)}];
  if (typeof report === "function") report(event.violatedDirective + " blocked " + (event.blockedURI || "inline") + (event.sourceFile ? " (" + event.sourceFile + ":" + event.lineNumber + ")" : ""));
});`;

/**
 * One Chromium per test file and a fresh context per test; call at the top of
 * a test file (at most once). The returned members are usable inside tests
 * and hooks.
 */
export function useBrowser(): BrowserHarness {
  let browser: Browser | undefined;
  let contexts: BrowserContext[] = [];
  let defaultPage: Page | undefined;
  let problems: PageProblem[] = [];

  async function openContext(options: BrowserContextOptions = {}): Promise<Page> {
    if (!browser) throw new Error("the browser exists only inside tests and hooks (useBrowser)");
    const context = await browser.newContext(options);
    contexts.push(context);
    await context.exposeBinding(cspBinding, ({ page }, text: string) => {
      problems.push({ kind: "csp", url: page?.url() ?? "", text });
    });
    await context.addInitScript(cspListener);
    context.on("page", watch);
    const page = await context.newPage();
    return page;
  }

  function watch(page: Page): void {
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      // Chromium asks for /favicon.ico on its own; a page without one has done nothing wrong.
      if (new URL(message.location().url || "about:blank", "about:blank").pathname === "/favicon.ico") return;
      problems.push({ kind: "console", url: page.url(), text: message.text() });
    });
    page.on("pageerror", (error) => problems.push({ kind: "pageerror", url: page.url(), text: error.message }));
    page.on("dialog", (dialog) => {
      problems.push({ kind: "dialog", url: page.url(), text: `${dialog.type()}: ${dialog.message()}` });
      // Left open, a dialog blocks the page's script and every later evaluate.
      void dialog.dismiss().catch(() => undefined);
    });
  }

  // Kept, not thrown from beforeAll: vitest reports the tests of a failed beforeAll as skipped,
  // and a browser test that cannot run must fail, loudly, in every test.
  let launchError: Error | undefined;
  beforeAll(async () => {
    if (!existsSync(chromiumPath)) {
      launchError = new Error(
        `Chromium is not installed at ${chromiumPath}: the status page's browser tests need Debian's chromium ` +
          "(apt-get install chromium; .ci/run installs it), or CHROMIUM_PATH naming another build",
      );
      return;
    }
    try {
      browser = await chromium.launch({
        executablePath: chromiumPath,
        // Tests run as root, where Chromium's sandbox refuses to start; /dev/shm is small in containers.
        args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check"],
        timeout: 60_000,
      });
    } catch (error) {
      launchError = new Error(`Chromium at ${chromiumPath} did not start: ${(error as Error).message}`, { cause: error });
    }
  }, 90_000);

  beforeEach(async () => {
    if (launchError) throw launchError;
    problems = [];
    defaultPage = await openContext();
  });

  afterEach(async (context: TestContext) => {
    const open = contexts;
    contexts = [];
    defaultPage = undefined;
    try {
      if (context.task.result?.state === "fail") await saveArtifacts(context, open);
    } finally {
      await Promise.allSettled(open.map((each) => each.close()));
    }
  });

  afterAll(async () => {
    const open = contexts;
    contexts = [];
    await Promise.allSettled(open.map((each) => each.close()));
    await browser?.close().catch(() => undefined);
    browser = undefined;
  }, 30_000);

  const harness: BrowserHarness = {
    get browser() {
      if (!browser) throw new Error("the browser exists only inside tests and hooks (useBrowser)");
      return browser;
    },
    get context() {
      return harness.page.context();
    },
    get page() {
      if (!defaultPage) throw new Error("the page exists only inside tests (useBrowser)");
      return defaultPage;
    },
    newPage: (options) => openContext(options),
    problems: () => [...problems],
    expectNoProblems(allow = []) {
      const unexcused = problems.filter((problem) => !allow.some((pattern) => pattern.test(problem.text)));
      expect(unexcused.map((problem) => `${problem.kind} at ${problem.url}: ${problem.text}`)).toEqual([]);
    },
  };
  return harness;
}

/** `<file>-<test>[-<n>].png` and `.html` for every page still open in the failed test's contexts. */
export async function saveArtifacts(context: TestContext, contexts: BrowserContext[]): Promise<void> {
  const file = basename(context.task.file?.name ?? "unknown").replace(/\.test\.ts$/, "");
  const stem = `${file}-${fullName(context)}`.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 180);
  const pages = contexts.flatMap((each) => each.pages());
  await mkdir(artifactDir, { recursive: true });
  let index = 0;
  for (const page of pages) {
    const name = pages.length === 1 ? stem : `${stem}-${++index}`;
    try {
      await page.screenshot({ path: join(artifactDir, `${name}.png`), fullPage: true, timeout: 10_000 });
      await writeFile(join(artifactDir, `${name}.html`), await page.content());
      process.stderr.write(`browser test failed: screenshot and HTML of ${page.url()} in ${join(artifactDir, name)}.{png,html}\n`);
    } catch (error) {
      // A crashed or closed page: the test's own failure is what matters.
      process.stderr.write(`browser test failed; no screenshot of ${page.url()}: ${(error as Error).message}\n`);
    }
  }
}

function fullName(context: TestContext): string {
  const names: string[] = [];
  let task: { name: string; suite?: unknown } | undefined = context.task;
  while (task) {
    if (task.name && task !== (context.task.file as unknown)) names.unshift(task.name);
    task = task.suite as typeof task | undefined;
  }
  return names.join("-");
}
