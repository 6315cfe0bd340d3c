import { describe, expect, it } from "vitest";
import { scheduleProblem, standardCronExpression, timeZoneProblem } from "../../../src/desired/kinds/schedule.ts";

describe("CronJob schedules", () => {
  it.each(["*/5 * * * *", "0 0 * * 0", "15,45 8-18 * * MON-FRI", "0 0 1 */3 *", "0 12 ? * sun", "@hourly", " @daily "])(
    "accepts %j",
    (schedule) => {
      expect(scheduleProblem(schedule)).toBeUndefined();
    },
  );

  it.each([
    ["", /must have 5 fields/],
    ["* * * *", /must have 5 fields/],
    ["0 24 * * *", /hour value "24" is out of range 0-23/],
    ["0 0 0 * *", /day of month value "0" is out of range 1-31/],
    ["0 0 * 13 *", /month value "13" is out of range 1-12/],
    ["0 0 * * 7", /day of week value "7" is out of range 0-6/],
    ["0 0 L * *", /invalid day of month value "L"/],
    ["0 0 * * 1#2", /invalid day of week value "1#2"/],
    ["H * * * *", /invalid minute value "H"/],
    ["? * * * *", /invalid minute value "\?"/],
    ["*/0 * * * *", /step in the minute field must be a positive integer/],
    ["30-10 * * * *", /minute range "30-10" starts after it ends/],
    ["@reboot", /unknown macro "@reboot"/],
    ["TZ=UTC 0 * * * *", /use spec.timeZone/],
    ["0 0 31 4 *", /never fires/],
  ])("rejects %j", (schedule, message) => {
    expect(scheduleProblem(schedule)).toMatch(message);
  });

  it("expands macros to five fields", () => {
    expect(standardCronExpression("@midnight")).toBe("0 0 * * *");
    expect(standardCronExpression("@weekly")).toBe("0 0 * * 0");
    expect(standardCronExpression("*/5 * * * *")).toBe("*/5 * * * *");
  });

  it("knows IANA time zones and nothing else", () => {
    expect(timeZoneProblem("America/New_York")).toBeUndefined();
    expect(timeZoneProblem("UTC")).toBeUndefined();
    expect(timeZoneProblem("Central European Time")).toMatch(/unknown time zone/);
  });
});
