import type { Clock } from "../../clock.ts";
import type { Lifecycle } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import { httpGet, runProbe, type ProbeOutcome, type ProbeTarget } from "./probes.ts";

/**
 * Lifecycle hooks (postStart, preStop), as the kubelet runs them
 * (pkg/kubelet/lifecycle/handlers.go): exec in the container, an HTTP GET, or
 * a sleep. Bounded by `timeoutMs`; the sleep handler sleeps on the injected
 * clock and ends early when `signal` aborts.
 */

export type LifecycleHandler = NonNullable<Lifecycle["postStart"]>;

export async function runHook(
  handler: LifecycleHandler,
  target: ProbeTarget,
  timeoutMs: number,
  clock: Clock,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  try {
    if (handler.sleep) {
      await clock.sleep(Math.min(handler.sleep.seconds * 1000, Math.max(0, timeoutMs)), signal);
      return { ok: true };
    }
    if (handler.httpGet) {
      const outcome = await httpGet(handler.httpGet, target, timeoutMs);
      // The kubelet fails an HTTP hook only when the request fails, whatever the status code.
      return { ok: outcome.ok || outcome.statusCode !== undefined, ...(outcome.message ? { message: outcome.message } : {}) };
    }
    if (handler.exec) return await runProbe({ exec: handler.exec }, target, timeoutMs);
    return { ok: false, message: "the hook has no handler" };
  } catch (error) {
    return { ok: false, message: messageOf(error) };
  }
}
