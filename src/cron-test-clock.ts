import { readFileSync } from "node:fs";
import type { Clock } from "./clock.ts";
import { ConfigError, messageOf } from "./errors.ts";

/**
 * TEST HOOK, not a setting: `CAPSTAN_TEST_CRON_CLOCK_OFFSET_FILE` names a
 * file holding a whole number of milliseconds that is added to the real time
 * the CronJob controller sees (its `now` and its wake-up timer), and nothing
 * else: node heartbeats, eviction grace, Job deadlines and the leader lease
 * keep real time, or nodes would look stale after each jump. End-to-end tests
 * of several `capstan up` processes write the file (atomically, by rename) to
 * push scheduled time forward a minute every couple of seconds; every
 * replica reads the same file, so they agree on what is due. A missing file
 * or a value that is not a whole number of milliseconds stops start-up (exit
 * 2); one written badly later fails the CronJob reconciles, loudly, until it
 * is fixed. README, "Tests", says the same.
 */
export const cronTestClockVariable = "CAPSTAN_TEST_CRON_CLOCK_OFFSET_FILE";

/** How often a sleeper looks at the file again: a jump is seen within this long. */
const pollMs = 50;

export class OffsetFileClock implements Clock {
  constructor(readonly path: string) {}

  /** The offset in the file now; throws, naming the variable and the file, when it cannot be read or is malformed. */
  offsetMs(): number {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      throw new ConfigError(`${cronTestClockVariable}: cannot read ${this.path}: ${messageOf(error)}`);
    }
    const value = text.trim();
    const offset = /^-?\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(offset)) {
      throw new ConfigError(`${cronTestClockVariable}: ${this.path} must hold a whole number of milliseconds, not ${JSON.stringify(value.slice(0, 40))}`);
    }
    return offset;
  }

  now(): Date {
    return new Date(Date.now() + this.offsetMs());
  }

  /**
   * Resolves once `ms` of this clock's time have passed: by real time, or
   * sooner when the offset jumps forward. A file that turns unreadable
   * resolves it at once, so the reconcile that follows reports the error.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let until: number;
      try {
        until = this.now().getTime() + ms;
      } catch {
        return resolve();
      }
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", finish);
        resolve();
      };
      const check = () => {
        let remaining: number;
        try {
          remaining = until - this.now().getTime();
        } catch {
          return finish();
        }
        if (remaining <= 0 || signal?.aborted) return finish();
        timer = setTimeout(check, Math.min(remaining, pollMs));
      };
      signal?.addEventListener("abort", finish, { once: true });
      check();
    });
  }
}

/** The CronJob controller's clock under the test hook, checked once at start-up; undefined when the variable is unset. */
export function cronJobClockFromEnvironment(env: NodeJS.ProcessEnv = process.env): OffsetFileClock | undefined {
  const path = env[cronTestClockVariable];
  if (path === undefined || path === "") return undefined;
  const clock = new OffsetFileClock(path);
  clock.offsetMs();
  return clock;
}
