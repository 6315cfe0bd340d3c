import { vi } from "vitest";

/** Retries `check` (an assertion) until it passes or `timeoutMs` runs out: vitest's waitFor with capstan's defaults. */
export function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5_000): Promise<T> {
  return vi.waitFor(check, { timeout: timeoutMs, interval: 50 });
}
