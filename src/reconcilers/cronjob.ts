import type { ObjectKey, StoredObject } from "../desired/index.ts";
import { ConflictError } from "../errors.ts";
import { commitAnnotation } from "../nodes/index.ts";
import { planCronJob, type CronJobAction } from "./cronjob-plan.ts";
import { ownKeyOrOwner } from "./owners.ts";
import { statusChanged } from "./writes.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/**
 * CronJob → Jobs: carry out planCronJob, write the status, and ask to be
 * woken at the next scheduled time (requeueAfterMs).
 *
 * That wake-up is a plain timer on the controller's clock, and it is only a
 * nudge: the decision is made by dueRuns from `clock.now()` and the stored
 * lastScheduleTime, never from the fact that a timer fired. A timer can fire
 * early (timer drift, the 24.8-day setTimeout ceiling), late (a busy event
 * loop, a restart) or not at all (the process died); each case ends in the
 * right run because the pass re-derives what is due: early finds nothing
 * and sleeps again, late starts the run within its starting deadline,
 * missing is made good by the next resync or restart. A cron library's own
 * scheduler would decide "now is the time" from the system clock, which
 * tests cannot move and which two control planes would each act on.
 */
export const cronJobReconciler: Reconciler = {
  kind: "CronJob",
  name: "cronjob-controller",

  async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
    const { store } = ctx;
    const cronJob = await store.getObject(key);
    if (!cronJob) return {};
    const jobs = await store.listObjects({ kind: "Job", namespace: key.namespace, ownerUid: cronJob.uid });
    const plan = planCronJob({ cronJob, jobs, now: ctx.clock.now() });
    for (const action of plan.actions) await apply(ctx, cronJob, action);
    const about = { ...key, uid: cronJob.uid };
    for (const event of plan.events) await ctx.event(about, event);
    if (statusChanged(cronJob, plan.status)) await store.updateStatuses([{ key, uid: cronJob.uid, status: plan.status, observedGeneration: cronJob.generation }]);
    return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs };
  },

  // A Job's status change (it finished) may free a Forbid run, update lastSuccessfulTime or trim history.
  keysFor: (change: ObjectChange, ctx: ReconcileContext) => ownKeyOrOwner(change, ctx, "CronJob", ["Job"]),
};

async function apply(ctx: ReconcileContext, cronJob: StoredObject, action: CronJobAction): Promise<void> {
  const { store } = ctx;
  const about = { kind: "CronJob", namespace: cronJob.namespace, name: cronJob.name, uid: cronJob.uid };
  const jobKey = { kind: "Job", namespace: cronJob.namespace, name: action.name };
  if (action.type === "deleteJob") {
    if (await store.deleteObject(jobKey, { uid: action.uid })) {
      await ctx.event(about, { type: "Normal", reason: "SuccessfulDelete", message: `Deleted job ${action.name}${action.reason === "Replace" ? " (concurrencyPolicy Replace)" : ""}` });
    }
    return;
  }
  try {
    await store.createObject({
      apiVersion: "batch/v1",
      kind: "Job",
      namespace: cronJob.namespace,
      name: action.name,
      labels: action.labels,
      annotations: { ...action.annotations, ...(cronJob.revisionSha ? { [commitAnnotation]: cronJob.revisionSha } : {}) },
      spec: action.spec as unknown as Record<string, unknown>,
      ownerUid: cronJob.uid,
    });
  } catch (error) {
    if (!(error instanceof ConflictError && error.reason === "exists")) throw error;
    // The unique key is what makes a run happen once: a Job of this name that we own is this run, already started.
    const existing = await store.getObject(jobKey);
    if (existing?.ownerUid === cronJob.uid) {
      ctx.log.debug({ job: action.name }, "the run's Job already exists: started by another pass");
      return;
    }
    await ctx.event(about, { type: "Warning", reason: "FailedCreate", message: `Job ${action.name} exists and is not owned by this CronJob: the run at ${action.scheduledTime.toISOString()} is not started` });
    return;
  }
  // Counted here, past the unique create: a run whose Job another pass made is not counted twice.
  ctx.cronJobRuns?.cronJobRun({ namespace: cronJob.namespace, cronJob: cronJob.name, outcome: "created" });
  await ctx.event(about, { type: "Normal", reason: "SuccessfulCreate", message: `Created job ${action.name}` });
}
