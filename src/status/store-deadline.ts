import { StoreUnavailableError } from "../errors.ts";

/** The store gave no answer in time (as opposed to answering with an error). */
export class StoreDeadlineError extends StoreUnavailableError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`the store did not answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * `work`, or a StoreDeadlineError once `timeoutMs` passed without an
 * answer: a store that hangs (a dead host, a full pool) must make /readyz and
 * /metrics answer "unavailable" at once, not hold the request until the
 * prober gives up. The query itself is left to finish or fail on its own.
 */
export async function storeWithin<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreDeadlineError(timeoutMs)), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
