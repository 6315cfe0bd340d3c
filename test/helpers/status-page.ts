/**
 * What the status page's browser tests share: the page's sections, how to
 * read its live state, and how to tell a live update from a reload.
 */
import type { Page } from "playwright-core";
import { expect } from "vitest";

/** The overview's sections, each a <section id=…> (the page contract). */
export const pageSections = ["workloads", "nodes", "revisions", "cronjobs", "events"];

/** The first 7 hex digits, as any short sha on the page starts. */
export const short = (sha: string) => sha.slice(0, 7);

export const configMap = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

/** Counts the page's own navigations: a live update must not be a reload. */
export function countNavigations(page: Page): () => number {
  let count = 0;
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) count += 1;
  });
  return () => count;
}

/** What the page's script says of its EventSource (body[data-live]); read from outside: the page's CSP forbids eval. */
export const liveState = (page: Page) => page.locator("body").getAttribute("data-live");

/** Waits until the page's EventSource is open: changes from now on reach it. */
export async function waitForLive(page: Page): Promise<void> {
  await expect.poll(() => liveState(page), { timeout: 15_000 }).toBe("connected");
}
