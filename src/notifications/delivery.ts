import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import { messageOf } from "../errors.ts";
import { redactNotifierUrl } from "./payload.ts";

/**
 * One POST and what its answer means for the delivery. `decide` is pure:
 * 2xx delivered; 4xx other than 408 and 429 will not get better by retrying
 * (a wrong URL, a refused signature); 5xx, 408, 429, timeouts and network
 * errors are retried with back-off until the attempts or the age run out.
 */

export interface RetryPolicy {
  backoff: BackoffOptions;
  maxAttempts: number;
  /** Give up once a delivery is this old. */
  giveUpAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  backoff: { initialMs: 1_000, maxMs: 5 * 60_000, jitter: 0.5 },
  // About 24 h at the 5 min cap: the age limit usually ends it first.
  maxAttempts: 300,
  giveUpAfterMs: 24 * 60 * 60_000,
};

export type PostResult =
  | { kind: "answered"; status: number; statusText: string; retryAfterMs?: number; excerpt: string }
  | { kind: "unreachable"; error: string };

export type Verdict =
  | { type: "delivered"; status: number }
  | { type: "retry"; at: Date; error: string; status: number | null }
  | { type: "failed"; error: string; status: number | null };

export function describeResult(result: PostResult): string {
  if (result.kind === "unreachable") return result.error;
  const excerpt = result.excerpt ? `: ${result.excerpt}` : "";
  return `HTTP ${result.status}${result.statusText ? ` ${result.statusText}` : ""}${excerpt}`;
}

/** `attempts` counts this one; `createdAt` is when the delivery was enqueued. */
export function decide(result: PostResult, attempts: number, createdAt: Date, now: Date, policy: RetryPolicy, random?: () => number): Verdict {
  const status = result.kind === "answered" ? result.status : null;
  if (status !== null && status >= 200 && status < 300) return { type: "delivered", status };
  const error = describeResult(result);
  if (status !== null && status >= 300 && status < 500 && status !== 408 && status !== 429) return { type: "failed", error, status };
  if (attempts >= policy.maxAttempts) return { type: "failed", error: `gave up after ${attempts} attempts: ${error}`, status };
  let delay = backoffDelay(attempts - 1, { ...policy.backoff, random });
  // A receiver that says when to come back (429/503 Retry-After) is believed, within the cap.
  if (result.kind === "answered" && result.retryAfterMs !== undefined) delay = Math.min(Math.max(delay, result.retryAfterMs), policy.backoff.maxMs);
  const at = new Date(now.getTime() + delay);
  if (at.getTime() - createdAt.getTime() > policy.giveUpAfterMs) {
    return { type: "failed", error: `gave up after ${attempts} attempts over ${Math.round((now.getTime() - createdAt.getTime()) / 1000)} s: ${error}`, status };
  }
  return { type: "retry", at, error, status };
}

export interface PostOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborted when the worker stops. */
  signal: AbortSignal;
}

/** Posts once. Never throws: an abort by `signal` comes back as unreachable with "aborted". */
export async function postNotification(options: PostOptions): Promise<PostResult> {
  // One controller per post, its listener on the worker's signal removed afterwards, so a long-lived worker gathers none.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onStop = (): void => controller.abort();
  options.signal.addEventListener("abort", onStop, { once: true });
  if (options.signal.aborted) controller.abort();
  try {
    const response = await fetch(options.url, {
      method: "POST",
      headers: options.headers,
      body: options.body,
      redirect: "manual",
      signal: controller.signal,
    });
    // Read a little of the answer for last_error, then drop the rest so the connection is freed.
    const text = await response.text().catch(() => "");
    const retryAfter = Number(response.headers.get("retry-after"));
    return {
      kind: "answered",
      status: response.status,
      statusText: response.statusText,
      ...(Number.isFinite(retryAfter) && retryAfter >= 0 && response.headers.has("retry-after") ? { retryAfterMs: retryAfter * 1000 } : {}),
      excerpt: withoutUrlSecrets(text, options.url).replace(/\s+/g, " ").trim().slice(0, 200),
    };
  } catch (error) {
    if (options.signal.aborted) return { kind: "unreachable", error: "aborted: capstan is stopping" };
    if (timedOut) return { kind: "unreachable", error: `no answer within ${options.timeoutMs} ms` };
    return { kind: "unreachable", error: networkError(error, options.url) };
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener("abort", onStop);
  }
}

/** A receiver that echoes the request line would put the URL's token into last_error, the API and an event. */
function withoutUrlSecrets(text: string, url: string): string {
  const parsed = new URL(url);
  let scrubbed = text;
  for (const part of [parsed.pathname + parsed.search, parsed.pathname, parsed.search.slice(1)]) {
    if (part.length > 1) scrubbed = scrubbed.split(part).join("[redacted]");
  }
  return scrubbed;
}

// fetch says only "fetch failed"; the cause has the code (ECONNREFUSED...). The URL may hold a token: never echoed.
function networkError(error: unknown, url: string): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? (cause?.message ? cause.message : messageOf(error));
  return `could not reach ${redactNotifierUrl(url)}: ${detail.split(url).join(redactNotifierUrl(url))}`;
}
