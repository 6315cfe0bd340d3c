import { randomUUID } from "node:crypto";
import type { ObjectKey } from "../desired/index.ts";
import { commitAnnotation } from "../nodes/index.ts";
import { planJob } from "./job-plan.ts";
import { createOwnedPod, deleteOwnedPod } from "./owned-pods.ts";
import { reportFinishedRun } from "./cronjob-runs.ts";
import { ownKeyOrOwner } from "./owners.ts";
import { inBatches, statusChanged } from "./writes.ts";
import type { ObjectChange, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/** Job → Pods: carry out planJob's creations and deletions, write the status, delete the Job when its TTL ran out. */
export const jobReconciler: Reconciler = {
  kind: "Job",
  name: "job-controller",

  async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
    const { store } = ctx;
    const job = await store.getObject(key);
    if (!job) return {};
    const pods = await store.listObjects({ kind: "Pod", namespace: key.namespace, ownerUid: job.uid });
    const plan = planJob({ job, pods, now: ctx.clock.now(), nameSeed: randomUUID() });
    const about = { ...key, uid: job.uid };
    const commit = job.annotations[commitAnnotation] ?? job.revisionSha;
    if (plan.actions.some((action) => action.type === "deleteJob")) {
      // TTL: the pods first, so nothing of the Job outlives it even before the garbage collector passes.
      await inBatches(pods, 16, async (pod) => void (await store.deleteObject({ kind: "Pod", namespace: key.namespace, name: pod.name }, { uid: pod.uid })));
      await store.deleteObject(key, { uid: job.uid });
      await ctx.event(about, { type: "Normal", reason: "TTLExpired", message: "Job deleted: ttlSecondsAfterFinished passed" });
      // A TTL of 0 deletes the Job in the pass that finishes it: its finished status is never written.
      await reportFinishedRun(ctx, job, plan.status);
      return {};
    }
    await inBatches(plan.actions, 16, async (action) => {
      if (action.type === "createPod") {
        const { labels, annotations } = action.template.metadata;
        await createOwnedPod(ctx, job, { name: action.name, labels, annotations: { ...annotations, ...(commit ? { [commitAnnotation]: commit } : {}) }, spec: action.template.spec });
      } else if (action.type === "deletePod") {
        await deleteOwnedPod(ctx, job, action, { message: `Deleted pod: ${action.name} (${action.reason})` });
      }
    });
    for (const event of plan.events) await ctx.event(about, event);
    if (statusChanged(job, plan.status)) {
      await store.updateStatuses([{ key, uid: job.uid, status: plan.status, observedGeneration: job.generation }]);
      await reportFinishedRun(ctx, job, plan.status);
    }
    return plan.requeueAfterMs === undefined ? {} : { requeueAfterMs: plan.requeueAfterMs };
  },

  keysFor: (change: ObjectChange, ctx: ReconcileContext) => ownKeyOrOwner(change, ctx, "Job", ["Pod"]),
};
