import type { StoredObject } from "../desired/index.ts";
import { messageOf } from "../errors.ts";
import type { ReconcileContext } from "./types.ts";

/** How a Job's status says it ended, if it did: its Complete or Failed condition. */
export function runOutcome(status: Record<string, unknown>): "succeeded" | "failed" | undefined {
  const conditions = (status as { conditions?: { type?: string; status?: string }[] }).conditions ?? [];
  const isTrue = (type: string) => conditions.some((condition) => condition.type === type && condition.status === "True");
  return isTrue("Complete") ? "succeeded" : isTrue("Failed") ? "failed" : undefined;
}

/**
 * Tells `ctx.cronJobRuns` that a CronJob's run ended, when the status the Job
 * controller has just written (`written`) is the one that finished it: the
 * stored status was not finished yet, so each run is told once whatever the
 * number of passes. Other Jobs (no CronJob owns them) are not runs.
 */
export async function reportFinishedRun(ctx: ReconcileContext, job: StoredObject, written: Record<string, unknown>): Promise<void> {
  const runs = ctx.cronJobRuns;
  const outcome = runOutcome(written);
  if (!runs || !outcome || runOutcome(job.status) || !job.ownerUid) return;
  try {
    const owner = await ctx.store.getObjectByUid(job.ownerUid);
    if (owner?.kind === "CronJob") runs.cronJobRun({ namespace: job.namespace, cronJob: owner.name, outcome });
  } catch (error) {
    // A lost count, not a failed reconcile: the Job's status is written already.
    ctx.log.warn({ err: messageOf(error) }, "could not tell which CronJob a finished Job belongs to");
  }
}
