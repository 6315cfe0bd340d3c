/** Waiting on the controllers of a benchmark's cluster: writes and events made, idle queues, quiet store. */
import type { ControllerManager } from "../../src/reconcilers/index.ts";
import type { BenchDatabase } from "./database.ts";

type Pool = BenchDatabase["pool"];

/** Object writes so far (resource_version_seq) and events recorded (with their repeats). */
export async function counters(db: Pool): Promise<{ version: number; events: number }> {
  const { rows } = await db.query<{ version: string; events: string }>(
    "SELECT (SELECT last_value FROM resource_version_seq) AS version, (SELECT coalesce(sum(count), 0) FROM events) AS events",
  );
  return { version: Number(rows[0]!.version), events: Number(rows[0]!.events) };
}

export function idleQueues(manager: ControllerManager): boolean {
  return manager.stats().every((stat) => stat.queued === 0 && stat.processing === 0);
}

/** Until no key is queued or processing (keys waiting on a timer do not count: they are not part of the pass). */
export async function untilIdle(manager: ControllerManager, profile?: { busy(): boolean }): Promise<void> {
  const idle = () => idleQueues(manager) && !profile?.busy();
  for (;;) {
    if (idle()) {
      // A notification of a write the pass made may still be on its way: look once more after a moment.
      await sleep(20);
      if (idle()) return;
    }
    await sleep(1);
  }
}

/** Until a second passes with no object write, no event and nothing queued. */
export async function waitQuiet(db: Pool, manager: ControllerManager, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = await counters(db);
  for (;;) {
    await sleep(1_000);
    const now = await counters(db);
    if (idleQueues(manager) && now.version === last.version && now.events === last.events) return;
    if (Date.now() > deadline) throw new Error(`still writing after ${timeoutMs} ms (${now.version - last.version} writes in the last second)`);
    last = now;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
