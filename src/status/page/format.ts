/** How the page writes times, shas and sizes: pure, the clock's `now` passed in. */

export const shortSha = (sha: string): string => sha.slice(0, 10);

export const subjectOf = (message: string): string => message.split("\n", 1)[0] ?? "";

/** "3m ago", "in 2h"; ages are rough on purpose: exact times are in the title attribute. */
export function relativeTime(at: Date | string | null | undefined, now: Date): string {
  if (at === null || at === undefined) return "never";
  const then = typeof at === "string" ? new Date(at) : at;
  if (Number.isNaN(then.getTime())) return "unknown";
  const seconds = Math.round((now.getTime() - then.getTime()) / 1000);
  const size = Math.abs(seconds);
  const text =
    size < 60 ? `${size}s` : size < 3600 ? `${Math.floor(size / 60)}m` : size < 86_400 ? `${Math.floor(size / 3600)}h` : `${Math.floor(size / 86_400)}d`;
  return seconds >= 0 ? `${text} ago` : `in ${text}`;
}

export function isoTime(at: Date | string | null | undefined): string {
  if (at === null || at === undefined) return "";
  const date = typeof at === "string" ? new Date(at) : at;
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export const formatCpu = (millis: number): string => (millis % 1000 === 0 ? `${millis / 1000}` : `${millis}m`);

/** 0 to 100, for a progress bar's width; an empty whole is 0 %, not NaN. */
export function percent(part: number, whole: number): number {
  if (whole <= 0) return 0;
  return Math.max(0, Math.min(100, Math.round((part / whole) * 100)));
}

/** Health words that mean something is wrong: shown red (and always as the word too). */
const badHealth = new Set(["degraded", "failed", "missing", "unhealthy"]);
export function healthTone(health: string): "bad" | "good" | "busy" | "unknown" {
  const word = health.toLowerCase();
  if (badHealth.has(word) || word.startsWith("failed")) return "bad";
  if (word === "healthy" || word === "complete") return "good";
  if (word === "progressing" || word === "pending" || word === "suspended" || word === "paused") return "busy";
  return "unknown";
}
