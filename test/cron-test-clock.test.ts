import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.ts";
import { cronJobClockFromEnvironment, cronTestClockVariable, OffsetFileClock } from "../src/cron-test-clock.ts";
import { tempDir } from "./helpers/git-fixture.ts";

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir("capstan-cron-clock-");
});
afterAll(async () => {
  await dir?.cleanup();
});

async function offsetFile(name: string, content: string): Promise<string> {
  const path = join(dir.path, name);
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
  return path;
}

describe("the CronJob test clock (CAPSTAN_TEST_CRON_CLOCK_OFFSET_FILE)", () => {
  it("is off unless the variable names a file", () => {
    expect(cronJobClockFromEnvironment({})).toBeUndefined();
    expect(cronJobClockFromEnvironment({ [cronTestClockVariable]: "" })).toBeUndefined();
  });

  it("refuses at start-up a missing file or a value that is not whole milliseconds, naming the variable and the file", async () => {
    const missing = join(dir.path, "absent");
    expect(() => cronJobClockFromEnvironment({ [cronTestClockVariable]: missing })).toThrow(ConfigError);
    expect(() => cronJobClockFromEnvironment({ [cronTestClockVariable]: missing })).toThrow(`${cronTestClockVariable}: cannot read ${missing}`);
    for (const bad of ["", "1.5", "60s", "1e3", "12345678901234567", "0x10"]) {
      const path = await offsetFile("bad", bad);
      expect(() => cronJobClockFromEnvironment({ [cronTestClockVariable]: path }), bad).toThrow(`${path} must hold a whole number of milliseconds`);
    }
  });

  it("reads the offset anew on every now(), so a jump written by the test is seen at once", async () => {
    const path = await offsetFile("offset", "0\n");
    const clock = cronJobClockFromEnvironment({ [cronTestClockVariable]: path })!;
    expect(Math.abs(clock.now().getTime() - Date.now())).toBeLessThan(50);
    await offsetFile("offset", "3600000");
    expect(clock.now().getTime() - Date.now()).toBeGreaterThan(3_600_000 - 50);
    await offsetFile("offset", "-60000");
    expect(clock.now().getTime() - Date.now()).toBeLessThan(-60_000 + 50);
  });

  it("ends a sleep when the offset jumps past its end, and by real time otherwise", async () => {
    const path = await offsetFile("sleep", "0");
    const clock = new OffsetFileClock(path);
    const started = Date.now();
    const longSleep = clock.sleep(60_000).then(() => Date.now() - started);
    setTimeout(() => void offsetFile("sleep", "60000"), 100);
    expect(await longSleep).toBeLessThan(1_000);

    const shortStart = Date.now();
    await clock.sleep(120);
    expect(Date.now() - shortStart).toBeGreaterThanOrEqual(115);

    const aborted = new AbortController();
    const cut = clock.sleep(60_000, aborted.signal);
    aborted.abort();
    await cut;
  });

  it("ends a sleep when the file turns malformed, so that the next now() reports it", async () => {
    const path = await offsetFile("broken", "0");
    const clock = new OffsetFileClock(path);
    const sleeping = clock.sleep(60_000);
    await offsetFile("broken", "soon");
    await sleeping;
    expect(() => clock.now()).toThrow(/must hold a whole number of milliseconds, not "soon"/);
  });
});
