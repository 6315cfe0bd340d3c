import { vi } from "vitest";

/** Retries `check` (an assertion) until it passes or `timeoutMs` runs out (10 s: CI machines are shared and slow at times). */
export function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  return vi.waitFor(check, { timeout: timeoutMs, interval: 50 });
}
