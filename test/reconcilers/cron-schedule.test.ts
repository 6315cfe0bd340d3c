import { describe, expect, it } from "vitest";
import { validateFiles } from "../../src/desired/index.ts";
import { dueRuns, nextRunAfter, type CronJobScheduling } from "../../src/reconcilers/cron-schedule.ts";

/**
 * dueRuns on an injected "now": which scheduled times start, how many were
 * missed, and the next time, for the schedules and outages the CronJob
 * controller meets. All times are UTC instants; the zone is the CronJob's.
 */

const t = (iso: string) => new Date(iso);
const isoList = (dates: Date[]) => dates.map((date) => date.toISOString().replace(".000Z", "Z"));

function cronJob(schedule: string, options: { timeZone?: string; deadline?: number; suspend?: boolean; policy?: string; created?: string } = {}): CronJobScheduling {
  return {
    spec: {
      schedule,
      timeZone: options.timeZone ?? "UTC",
      suspend: options.suspend ?? false,
      ...(options.deadline === undefined ? {} : { startingDeadlineSeconds: options.deadline }),
    },
    createdAt: t(options.created ?? "2026-01-01T00:00:00Z"),
    annotations: options.policy ? { "capstan.dev/missed-runs": options.policy } : {},
  };
}

interface Case {
  name: string;
  cronJob: CronJobScheduling;
  last: string | null;
  now: string;
  runs: string[];
  missed?: number;
  tooManyMissed?: boolean;
  next?: string | null;
}

const cases: Case[] = [
  { name: "every minute: due at the minute", cronJob: cronJob("* * * * *"), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:01:00Z", runs: ["2026-05-01T12:01:00Z"], missed: 0, next: "2026-05-01T12:02:00Z" },
  { name: "every minute: not yet", cronJob: cronJob("* * * * *"), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:00:59Z", runs: [], missed: 0, next: "2026-05-01T12:01:00Z" },
  { name: "every minute: two missed, the latest runs", cronJob: cronJob("* * * * *"), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:03:10Z", runs: ["2026-05-01T12:03:00Z"], missed: 2 },
  { name: "*/5", cronJob: cronJob("*/5 * * * *"), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:07:00Z", runs: ["2026-05-01T12:05:00Z"], missed: 0, next: "2026-05-01T12:10:00Z" },
  { name: "@hourly macro", cronJob: cronJob("@hourly"), last: "2026-05-01T12:00:00Z", now: "2026-05-01T13:00:01Z", runs: ["2026-05-01T13:00:00Z"], next: "2026-05-01T14:00:00Z" },
  { name: "never scheduled: counts from creation, not before it", cronJob: cronJob("* * * * *", { created: "2026-05-01T12:00:30Z" }), last: null, now: "2026-05-01T12:00:45Z", runs: [], next: "2026-05-01T12:01:00Z" },
  { name: "never scheduled: the first time after creation", cronJob: cronJob("* * * * *", { created: "2026-05-01T12:00:30Z" }), last: null, now: "2026-05-01T12:01:02Z", runs: ["2026-05-01T12:01:00Z"] },

  // Europe/Berlin: spring forward 2026-03-29 02:00 CET → 03:00 CEST; fall back 2026-10-25 03:00 CEST → 02:00 CET.
  {
    name: "Berlin spring forward: 02:30 does not exist, the run happens at 03:30 CEST that day",
    cronJob: cronJob("30 2 * * *", { timeZone: "Europe/Berlin", policy: "all" }),
    last: "2026-03-28T01:30:00Z",
    now: "2026-03-30T00:30:00Z",
    runs: ["2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"],
  },
  {
    name: "Berlin spring forward: hourly fires each real hour, 02:00 local never",
    cronJob: cronJob("0 * * * *", { timeZone: "Europe/Berlin", policy: "all" }),
    last: "2026-03-29T00:00:00Z",
    now: "2026-03-29T02:00:00Z",
    runs: ["2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"],
  },
  {
    name: "Berlin fall back: 02:30 comes twice, the run happens once (the first, CEST)",
    cronJob: cronJob("30 2 * * *", { timeZone: "Europe/Berlin", policy: "all" }),
    last: "2026-10-24T00:30:00Z",
    now: "2026-10-25T23:00:00Z",
    runs: ["2026-10-25T00:30:00Z"],
    next: "2026-10-26T01:30:00Z",
  },
  {
    name: "Berlin fall back: hourly fires in both 02:00 hours (they are different hours)",
    cronJob: cronJob("0 * * * *", { timeZone: "Europe/Berlin", policy: "all" }),
    last: "2026-10-24T23:30:00Z",
    now: "2026-10-25T02:00:00Z",
    runs: ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"],
  },
  // America/New_York: spring forward 2026-03-08 02:00 EST → 03:00 EDT; fall back 2026-11-01 02:00 EDT → 01:00 EST.
  {
    name: "New York spring forward: 02:30 runs at 03:30 EDT",
    cronJob: cronJob("30 2 * * *", { timeZone: "America/New_York" }),
    last: "2026-03-07T07:30:00Z",
    now: "2026-03-08T07:30:05Z",
    runs: ["2026-03-08T07:30:00Z"],
    next: "2026-03-09T06:30:00Z",
  },
  {
    name: "New York fall back: 01:30 runs once, at 01:30 EDT, not again at 01:30 EST",
    cronJob: cronJob("30 1 * * *", { timeZone: "America/New_York" }),
    last: "2026-11-01T05:30:00Z",
    now: "2026-11-01T06:45:00Z",
    runs: [],
    next: "2026-11-02T06:30:00Z",
  },

  // A 3-day outage (*/5 = 864 missed times).
  {
    name: "3-day outage without a deadline: too many missed, the latest still runs",
    cronJob: cronJob("*/5 * * * *"),
    last: "2026-05-01T12:00:00Z",
    now: "2026-05-04T12:02:00Z",
    runs: ["2026-05-04T12:00:00Z"],
    tooManyMissed: true,
    missed: 100,
  },
  {
    name: "3-day outage with a 5-minute starting deadline: only the run within it",
    cronJob: cronJob("*/5 * * * *", { deadline: 300 }),
    last: "2026-05-01T12:00:00Z",
    now: "2026-05-04T12:02:00Z",
    runs: ["2026-05-04T12:00:00Z"],
    tooManyMissed: false,
    missed: 0,
  },
  {
    name: "3-day outage with a 1-minute starting deadline: the latest is too late, wait for the next",
    cronJob: cronJob("*/5 * * * *", { deadline: 60 }),
    last: "2026-05-01T12:00:00Z",
    now: "2026-05-04T12:02:00Z",
    runs: [],
    next: "2026-05-04T12:05:00Z",
  },

  // Suspend and resume.
  { name: "suspended: nothing runs, the next time is still known", cronJob: cronJob("* * * * *", { suspend: true }), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:10:00Z", runs: [], missed: 0, next: "2026-05-01T12:11:00Z" },
  { name: "resumed without a deadline: the latest run missed while suspended starts", cronJob: cronJob("* * * * *"), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:10:20Z", runs: ["2026-05-01T12:10:00Z"], missed: 9 },
  { name: "resumed with a deadline: only runs within it", cronJob: cronJob("*/5 * * * *", { deadline: 30 }), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:12:00Z", runs: [], next: "2026-05-01T12:15:00Z" },

  // February 29.
  { name: "Feb 29: the next one is in 2028", cronJob: cronJob("0 0 29 2 *"), last: null, now: "2026-03-01T00:00:00Z", runs: [], next: "2028-02-29T00:00:00Z" },
  { name: "Feb 29: due on the leap day", cronJob: cronJob("0 0 29 2 *"), last: null, now: "2028-02-29T00:00:30Z", runs: ["2028-02-29T00:00:00Z"], next: "2032-02-29T00:00:00Z" },

  // Missed-runs policies.
  { name: "skip: runs missed during an outage are dropped", cronJob: cronJob("*/5 * * * *", { policy: "skip" }), last: "2026-05-01T12:00:00Z", now: "2026-05-04T12:02:00Z", runs: [], missed: 101, next: "2026-05-04T12:05:00Z" },
  { name: "skip: a run noticed on time starts", cronJob: cronJob("*/5 * * * *", { policy: "skip" }), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:05:30Z", runs: ["2026-05-01T12:05:00Z"], missed: 0 },
  {
    name: "all: every missed run within the deadline, oldest first",
    cronJob: cronJob("*/5 * * * *", { policy: "all", deadline: 900 }),
    last: "2026-05-01T12:00:00Z",
    now: "2026-05-04T12:02:00Z",
    runs: ["2026-05-04T11:50:00Z", "2026-05-04T11:55:00Z", "2026-05-04T12:00:00Z"],
    missed: 0,
  },
  {
    name: "all: capped at the 10 most recent",
    cronJob: cronJob("*/5 * * * *", { policy: "all" }),
    last: "2026-05-01T12:00:00Z",
    now: "2026-05-04T12:02:00Z",
    runs: Array.from({ length: 10 }, (_, i) => new Date(Date.parse("2026-05-04T11:15:00Z") + i * 300_000).toISOString().replace(".000Z", "Z")),
    tooManyMissed: true,
    missed: 91,
  },
  { name: "an unknown policy value reads as latest", cronJob: cronJob("* * * * *", { policy: "sometimes" }), last: "2026-05-01T12:00:00Z", now: "2026-05-01T12:03:10Z", runs: ["2026-05-01T12:03:00Z"] },
];

describe("dueRuns", () => {
  for (const testCase of cases) {
    it(testCase.name, () => {
      const result = dueRuns(testCase.cronJob, testCase.last === null ? null : t(testCase.last), t(testCase.now));
      expect(isoList(result.runs)).toEqual(testCase.runs);
      if (testCase.missed !== undefined) expect(result.missed).toBe(testCase.missed);
      if (testCase.tooManyMissed !== undefined) expect(result.tooManyMissed).toBe(testCase.tooManyMissed);
      if (testCase.next !== undefined) expect(result.next === null ? null : isoList([result.next])[0]).toBe(testCase.next);
    });
  }

  it("forward iteration is the one definition: runs found after an outage equal those found minute by minute", () => {
    const job = cronJob("30 2 * * *", { timeZone: "Europe/Berlin", policy: "all" });
    const stepped: string[] = [];
    let last: Date = t("2026-03-27T00:00:00Z");
    for (let now = last.getTime(); now <= Date.parse("2026-03-31T00:00:00Z"); now += 15 * 60_000) {
      const { runs } = dueRuns(job, last, new Date(now));
      stepped.push(...isoList(runs));
      last = runs.at(-1) ?? last;
    }
    const atOnce = isoList(dueRuns(job, t("2026-03-27T00:00:00Z"), t("2026-03-31T00:00:00Z")).runs);
    expect(stepped).toEqual(atOnce);
    expect(atOnce).toEqual(["2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]);
  });

  it("a schedule that cannot fire again has no next time", () => {
    expect(nextRunAfter({ schedule: "0 0 29 2 *", timeZone: "UTC", suspend: false }, t("2026-03-01T00:00:00Z"))?.toISOString()).toBe("2028-02-29T00:00:00.000Z");
  });
});

describe("schedule validation shares the controller's parser", () => {
  const manifest = (schedule: string, timeZone?: string) => `apiVersion: batch/v1
kind: CronJob
metadata: { name: nightly, namespace: default }
spec:
  schedule: "${schedule}"
${timeZone ? `  timeZone: ${timeZone}\n` : ""}  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{ name: c, command: [/bin/true] }]
`;
  const problems = (schedule: string, timeZone?: string) =>
    validateFiles([{ path: "cron.yaml", content: manifest(schedule, timeZone) }]).problems.map((p) => `${p.line} ${p.path}: ${p.message}`);

  it.each([
    ["0 0 30 2 *", "never fires"],
    ["61 * * * *", "out of range"],
    ["* * * *", "must have 5 fields"],
    ["@fortnightly", "unknown macro"],
    ["CRON_TZ=Europe/Berlin 0 2 * * *", "use spec.timeZone"],
  ])("rejects %s with its line", (schedule, message) => {
    const found = problems(schedule);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^5 spec\\.schedule: .*${message}`));
  });

  it("rejects an unknown time zone with its line", () => {
    expect(problems("0 2 * * *", "Mars/Olympus")).toEqual([expect.stringMatching(/^6 spec\.timeZone: unknown time zone/)]);
  });

  it("rejects an unknown missed-runs policy at its annotation", () => {
    const content = manifest("0 2 * * *").replace("metadata: { name: nightly, namespace: default }", 'metadata: { name: nightly, namespace: default, annotations: { capstan.dev/missed-runs: "sometimes" } }');
    const found = validateFiles([{ path: "cron.yaml", content }]).problems.map((p) => `${p.line} ${p.path}: ${p.message}`);
    expect(found).toEqual([expect.stringMatching(/^3 metadata\.annotations.*missed-runs.*: must be one of latest, skip, all/)]);
  });

  it("rejects a time zone spelt in the wrong case, naming the right one", () => {
    expect(problems("0 2 * * *", "europe/berlin")).toEqual([expect.stringMatching(/^6 spec\.timeZone: time zone names are case-sensitive: use "Europe\/Berlin"/)]);
  });

  it("accepts the macros and an IANA zone", () => {
    expect(problems("@daily", "Europe/Berlin")).toEqual([]);
    expect(problems("*/5 * * * *")).toEqual([]);
  });
});
