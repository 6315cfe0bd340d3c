import { systemClock, type Clock } from "../../src/clock.ts";

/**
 * The system clock moved by an offset that a test can push forward: time
 * passes at real speed (sleeps are real), but "now" can be jumped to just
 * before a cron minute so an end-to-end test need not wait for one.
 */
export class OffsetClock implements Clock {
  offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }

  /** Jumps forward so that "now" is `leadMs` before the next whole minute (never backwards). */
  jumpToBeforeNextMinute(leadMs: number): Date {
    const now = this.now().getTime();
    let target = Math.ceil(now / 60_000) * 60_000;
    if (target - now < leadMs) target += 60_000;
    this.offsetMs += target - leadMs - now;
    return new Date(target);
  }
}
