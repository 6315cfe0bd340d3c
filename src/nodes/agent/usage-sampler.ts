import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { Slot } from "./container-slot.ts";
import { containerLogPath } from "./launch-spec.ts";
import { DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES, rotateLog } from "./logs.ts";

/** What a pod worker samples, and where it tells of a change. */
export interface UsageSampling {
  /** Every container of the pod. */
  slots: readonly Slot[];
  /** The pod's directory (container logs at `<podDir>/logs/<container>.log`). */
  podDir: string;
  clock: Clock;
  log: Logger;
  usageIntervalMs?: number;
  logLimits?: { maxBytes: number; maxFiles: number };
  /** The worker's lifetime. */
  signal: AbortSignal;
  /** Some container's usage was sampled. */
  notify(): void;
}

/** CPU and memory of every running container, and log rotation, every usageIntervalMs, until `signal` aborts. */
export async function sampleUsage(input: UsageSampling): Promise<void> {
  const intervalMs = input.usageIntervalMs ?? 10_000;
  const limits = input.logLimits ?? { maxBytes: DEFAULT_LOG_MAX_BYTES, maxFiles: DEFAULT_LOG_MAX_FILES };
  const signal = input.signal;
  while (!signal.aborted) {
    await input.clock.sleep(intervalMs, signal);
    if (signal.aborted) return;
    let sampled = false;
    for (const slot of input.slots) {
      const run = slot.run;
      if (run) {
        const usage = await run.handle.usage().catch(() => undefined);
        if (slot.run === run && !signal.aborted) {
          slot.usage = usage;
          sampled = true;
        }
      }
      if (slot.everRan) {
        await rotateLog(containerLogPath(input.podDir, slot.name), limits).catch((error: unknown) =>
          input.log.warn({ err: error, container: slot.name }, "could not rotate a container log"),
        );
      }
    }
    if (sampled && !signal.aborted) input.notify();
  }
}
