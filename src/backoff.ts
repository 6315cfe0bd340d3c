/**
 * Exponential back-off with full jitter (the AWS "full jitter" scheme, also what
 * client-go's workqueue rate limiter approximates): attempt 0 waits up to
 * `initialMs`, each further attempt doubles the ceiling up to `maxMs`.
 * `random` is injectable so tests can pin the jitter.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** 0 = no jitter (exact doubling), 1 = full jitter in [ceiling/2, ceiling]. */
  jitter?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { initialMs, maxMs, jitter = 0.5, random = Math.random } = options;
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (1 - jitter * random()));
}
