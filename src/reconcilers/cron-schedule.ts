import { cronSchedule, missedRunsAnnotation, missedRunsPolicies, type CronJobSpec, type MissedRunsPolicy } from "../desired/index.ts";

/**
 * When a CronJob's runs are due, pure (house style 4: `now` is given).
 *
 * Which instants a schedule names is defined by cron-parser's forward
 * iteration (`next()`), also across DST changes, where it behaves as Vixie
 * cron does for fixed-time schedules: a time in the skipped spring hour runs
 * an hour later on the same day (02:30 → 03:30), a time in the repeated
 * autumn hour runs once (the first), and `*`-hour schedules fire every real
 * hour. Kubernetes (robfig/cron) instead drops the spring run and runs the
 * autumn one twice; we keep "once per calendar day" because that is what a
 * nightly job is for and it needs no patching of the library. Backward
 * iteration (`prev()`) disagrees with `next()` around DST (it skips the
 * shifted spring run and repeats the autumn one), so it is used only to find
 * where to start a forward scan after a long outage, never to name a run.
 *
 * Missed runs follow Kubernetes' CronJob controller (getMostRecentScheduleTime):
 * the unmet times are those after the last scheduled time (or the CronJob's
 * creation), not earlier than `startingDeadlineSeconds` ago; only the most
 * recent starts; more than 100 unmet times is "too many missed start times",
 * reported but still starting the latest. The annotation
 * `capstan.dev/missed-runs` changes what is caught up: `latest` (default,
 * Kubernetes), `skip` (only a run noticed within a minute of its time — the
 * ones missed while the control plane was down are dropped), `all` (every
 * unmet time within the deadline, oldest first, at most 10).
 */

export { missedRunsAnnotation, type MissedRunsPolicy };

/** Kubernetes' threshold for the TooManyMissedTimes event. */
export const tooManyMissedThreshold = 100;
/** `all` starts at most this many missed runs at once. */
export const maxCatchUpRuns = 10;
/** `skip`: how late a run may be noticed and still count as on time. */
export const onTimeGraceMs = 60_000;

export interface CronJobScheduling {
  spec: Pick<CronJobSpec, "schedule" | "timeZone" | "startingDeadlineSeconds" | "suspend">;
  createdAt: Date;
  annotations: Record<string, string>;
}

export interface DueRuns {
  /** Scheduled times to start now, oldest first. */
  runs: Date[];
  /** Unmet times that will not be started (counted up to the scan cap, tooManyMissedThreshold + 1). */
  missed: number;
  /** More than tooManyMissedThreshold unmet times: a clock jump or a long outage (Kubernetes' TooManyMissedTimes). */
  tooManyMissed: boolean;
  /** The first scheduled time after `now`, null when the schedule never fires again. */
  next: Date | null;
}

export function missedRunsPolicy(annotations: Record<string, string>): MissedRunsPolicy {
  const value = annotations[missedRunsAnnotation];
  return (missedRunsPolicies as readonly string[]).includes(value ?? "") ? (value as MissedRunsPolicy) : "latest";
}

/** The first scheduled time strictly after `after`, or null. */
export function nextRunAfter(spec: CronJobScheduling["spec"], after: Date): Date | null {
  try {
    return cronSchedule(spec.schedule, spec.timeZone, after).next().toDate();
  } catch {
    return null;
  }
}

/** Scheduled times in (after, until], oldest first, at most `limit`; `more` when the limit cut it short. */
function forwardTimes(spec: CronJobScheduling["spec"], after: Date, until: Date, limit: number): { times: Date[]; more: boolean } {
  const times: Date[] = [];
  let cursor: Date | null = after;
  for (;;) {
    cursor = nextRunAfter(spec, cursor);
    if (cursor === null || cursor.getTime() > until.getTime()) return { times, more: false };
    if (times.length === limit) return { times, more: true };
    times.push(cursor);
  }
}

/**
 * Where a forward scan ending at `until` can start and still see the latest
 * `count` times: a little before the count-th latest time as prev() finds it
 * (2 h covers any DST shift prev() may disagree about).
 */
function recentAnchor(spec: CronJobScheduling["spec"], until: Date, count: number): Date {
  const iterator = cronSchedule(spec.schedule, spec.timeZone, new Date(until.getTime() + 1));
  let oldest = until;
  for (let i = 0; i < count; i++) {
    try {
      oldest = iterator.prev().toDate();
    } catch {
      break;
    }
  }
  return new Date(oldest.getTime() - 2 * 3_600_000);
}

export function dueRuns(cronJob: CronJobScheduling, lastScheduleTime: Date | null, now: Date): DueRuns {
  const { spec } = cronJob;
  const next = nextRunAfter(spec, now);
  if (spec.suspend) return { runs: [], missed: 0, tooManyMissed: false, next };

  let earliest = lastScheduleTime ?? cronJob.createdAt;
  if (spec.startingDeadlineSeconds !== undefined) {
    const deadline = now.getTime() - spec.startingDeadlineSeconds * 1000;
    if (deadline > earliest.getTime()) earliest = new Date(deadline);
  }
  let { times: unmet, more: tooManyMissed } = forwardTimes(spec, earliest, now, tooManyMissedThreshold + 1);
  if (tooManyMissed) {
    const anchor = new Date(Math.max(earliest.getTime(), recentAnchor(spec, now, maxCatchUpRuns + 1).getTime()));
    unmet = forwardTimes(spec, anchor, now, Number.POSITIVE_INFINITY).times;
  }
  const unmetCount = tooManyMissed ? tooManyMissedThreshold + 1 : unmet.length;
  const latest = unmet.at(-1);
  let runs: Date[];
  switch (missedRunsPolicy(cronJob.annotations)) {
    case "latest":
      runs = latest ? [latest] : [];
      break;
    case "skip":
      runs = latest && now.getTime() - latest.getTime() <= onTimeGraceMs ? [latest] : [];
      break;
    case "all":
      runs = unmet.slice(-maxCatchUpRuns);
      break;
  }
  return { runs, missed: unmetCount - runs.length, tooManyMissed, next };
}
