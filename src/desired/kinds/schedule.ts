import { CronExpressionParser, type CronExpression } from "cron-parser";
import { messageOf } from "../../errors.ts";

/**
 * CronJob schedules, accepted exactly as Kubernetes accepts them: five fields
 * (minute hour day-of-month month day-of-week) or one of its @-macros.
 * cron-parser alone would also take seconds fields and extensions (L, #, H)
 * that a Kubernetes user would not expect to work, so the grammar is checked
 * here first; cron-parser then confirms the schedule ever fires (a
 * "30 February" parses but never runs) and is what the CronJob controller
 * computes run times with.
 */

const macros: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldRule {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** "?" means "any" in the day fields only. */
  allowsQuestionMark?: boolean;
}

const fieldRules: FieldRule[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31, allowsQuestionMark: true },
  { name: "month", min: 1, max: 12, names: monthNames },
  { name: "day of week", min: 0, max: 6, names: dayNames, allowsQuestionMark: true },
];

/** A schedule as five plain fields, the @-macros expanded. */
export function standardCronExpression(schedule: string): string {
  const trimmed = schedule.trim();
  return macros[trimmed] ?? trimmed;
}

function valueOf(text: string, rule: FieldRule): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const index = rule.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index < 0) return undefined;
  return rule.name === "month" ? index + 1 : index;
}

function fieldProblem(field: string, rule: FieldRule): string | undefined {
  for (const item of field.split(",")) {
    const [range, step, ...extra] = item.split("/");
    if (extra.length > 0 || range === undefined || range === "") return `invalid ${rule.name} field ${JSON.stringify(field)}`;
    if (step !== undefined && !(/^\d+$/.test(step) && Number(step) >= 1)) {
      return `the step in the ${rule.name} field must be a positive integer`;
    }
    if (range === "*" || (range === "?" && rule.allowsQuestionMark)) continue;
    const bounds = range.split("-");
    if (bounds.length > 2) return `invalid ${rule.name} range ${JSON.stringify(range)}`;
    const values = bounds.map((bound) => valueOf(bound, rule));
    for (const [index, value] of values.entries()) {
      if (value === undefined) return `invalid ${rule.name} value ${JSON.stringify(bounds[index])}`;
      if (value < rule.min || value > rule.max) {
        return `${rule.name} value ${JSON.stringify(bounds[index])} is out of range ${rule.min}-${rule.max}`;
      }
    }
    if (values.length === 2 && values[0]! > values[1]!) {
      return `${rule.name} range ${JSON.stringify(range)} starts after it ends`;
    }
  }
  return undefined;
}

/**
 * The schedule as cron-parser reads it, from `currentDate` on, in `timeZone`
 * (an IANA name; undefined = the control plane's own zone, as Kubernetes).
 * Validation and the CronJob controller both go through here, so a schedule
 * `capstan validate` accepts is one the controller computes with.
 */
export function cronSchedule(schedule: string, timeZone: string | undefined, currentDate: Date): CronExpression {
  return CronExpressionParser.parse(standardCronExpression(schedule), { currentDate, ...(timeZone ? { tz: timeZone } : {}) });
}

/** Why a schedule is not one capstan can run, or undefined when it is. */
export function scheduleProblem(schedule: string): string | undefined {
  if (/^\s*(CRON_)?TZ=/.test(schedule)) return "a time zone in the schedule is not supported: use spec.timeZone";
  const expression = standardCronExpression(schedule);
  if (expression.startsWith("@")) {
    return `unknown macro ${JSON.stringify(expression)}: use one of ${Object.keys(macros).join(", ")}`;
  }
  const fields = expression.split(/\s+/);
  if (fields.length !== 5) {
    return `must have 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}`;
  }
  for (const [index, field] of fields.entries()) {
    const problem = fieldProblem(field, fieldRules[index]!);
    if (problem) return problem;
  }
  try {
    cronSchedule(schedule, undefined, new Date()).next();
  } catch (error) {
    return `schedule never fires: ${messageOf(error)}`;
  }
  return undefined;
}

/**
 * Why a time zone name is unusable, or undefined. Checked by computing a run
 * in it with the controller's own parser (which uses the runtime's IANA
 * database). Names are case-sensitive, as on Kubernetes (Go reads them as
 * file names), although the runtime would forgive "europe/berlin".
 */
export function timeZoneProblem(timeZone: string): string | undefined {
  const unknown = `unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as "Europe/Berlin" or "UTC"`;
  try {
    cronSchedule("0 0 * * *", timeZone, new Date()).next();
    const resolved = new Intl.DateTimeFormat(undefined, { timeZone }).resolvedOptions().timeZone;
    if (resolved !== timeZone && resolved.toLowerCase() === timeZone.toLowerCase()) {
      return `time zone names are case-sensitive: use ${JSON.stringify(resolved)}`;
    }
    return undefined;
  } catch {
    return unknown;
  }
}
