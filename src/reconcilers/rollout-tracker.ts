import type { ObjectKey, Rollout, RolloutLog, StoredObject } from "../desired/index.ts";
import { revisionAnnotation } from "./deployment-plan.ts";
import { judgeRollout } from "./rollout-outcome.ts";
import type { EventInput, ReconcileContext, ReconcileResult, Reconciler } from "./types.ts";

/** A workload annotated so asks capstan to push a revert commit when its rollout fails. */
export const autoRevertAnnotation = "capstan.dev/auto-revert";

export interface FailedRollout {
  rollout: Rollout;
  workload: StoredObject;
  reason: string;
}

export interface RolloutTrackerOptions {
  rollouts: RolloutLog;
  /** Pushes the revert of a failed rollout's commit and says what happened; absent: no auto-revert at all. */
  autoRevert?: (failure: FailedRollout) => Promise<EventInput>;
  /** Auto-revert every workload, not only those annotated. */
  autoRevertAll?: boolean;
}

/**
 * Follows each workload's rollout under way to its outcome and writes it to
 * the rollout log (and so the revision's health). One tracker per kind, woken
 * by the workload's own status writes. It changes no object: a failed rollout
 * is undone only by a commit (auto-revert), never behind Git's back.
 */
export function rolloutTracker(kind: "Deployment" | "DaemonSet" | "StatefulSet", options: RolloutTrackerOptions): Reconciler {
  return {
    kind,
    name: `rollout-tracker-${kind.toLowerCase()}`,
    async reconcile(ctx: ReconcileContext, key: ObjectKey): Promise<ReconcileResult> {
      const rollout = await options.rollouts.progressing(key);
      if (!rollout) return {};
      const workload = await ctx.store.getObject(key);
      if (!workload) return {};
      const verdict = judgeRollout(workload, rollout.generation, rollout.startedAt, await newTemplatePods(ctx, workload));
      if (verdict.outcome === "progressing") return {};
      const reason = verdict.outcome === "failed" ? verdict.reason : null;
      if (!(await options.rollouts.finish(rollout.id, verdict.outcome, reason, ctx.clock.now()))) return {};
      const about = { kind, namespace: key.namespace, name: key.name, uid: workload.uid };
      const commit = rollout.revisionSha.slice(0, 7);
      if (verdict.outcome === "complete") {
        await ctx.event(about, { type: "Normal", reason: "RolloutComplete", message: `Rollout of commit ${commit} complete` });
        return {};
      }
      await ctx.event(about, { type: "Warning", reason: "RolloutFailed", message: `Rollout of commit ${commit} failed: ${reason}` });
      const wanted = options.autoRevertAll || workload.annotations[autoRevertAnnotation] === "true";
      if (wanted && options.autoRevert) await ctx.event(about, await options.autoRevert({ rollout, workload, reason: reason! }));
      return {};
    },
  };
}

/** The pods of the workload's newest template: they say why a rollout failed. */
async function newTemplatePods(ctx: ReconcileContext, workload: StoredObject): Promise<StoredObject[]> {
  if (workload.kind !== "Deployment") return ctx.store.listObjects({ kind: "Pod", namespace: workload.namespace, ownerUid: workload.uid });
  const replicaSets = await ctx.store.listObjects({ kind: "ReplicaSet", namespace: workload.namespace, ownerUid: workload.uid });
  const newest = replicaSets.reduce<StoredObject | undefined>(
    (best, rs) => (!best || Number(rs.annotations[revisionAnnotation] ?? 0) > Number(best.annotations[revisionAnnotation] ?? 0) ? rs : best),
    undefined,
  );
  return newest ? ctx.store.listObjects({ kind: "Pod", namespace: workload.namespace, ownerUid: newest.uid }) : [];
}
