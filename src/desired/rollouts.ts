import { z } from "zod";
import { objectChangeRecordSchema } from "./object-diff.ts";
import { revisionSchema } from "./records.ts";

/**
 * Rollout history (DESIGN.md, "Rollouts and rollbacks are commits"): the
 * shapes the store writes and the API and CLI read.
 */

/** Kinds whose change starts a rollout that the tracker follows to an outcome. */
export const rolloutKinds = ["Deployment", "DaemonSet", "StatefulSet"] as const;

export const rolloutOutcomeSchema = z.enum(["progressing", "complete", "failed", "superseded"]);
export type RolloutOutcome = z.infer<typeof rolloutOutcomeSchema>;

export const rolloutSchema = z.object({
  id: z.number().int(),
  revisionSha: z.string(),
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  generation: z.number().int(),
  startedAt: z.coerce.date(),
  finishedAt: z.coerce.date().nullable(),
  outcome: rolloutOutcomeSchema,
  /** Why it failed (ProgressDeadlineExceeded, crash-looping, unschedulable) or what superseded it. */
  reason: z.string().nullable(),
  /** The revert commit capstan pushed for it (auto-revert). */
  revertedBy: z.string().nullable(),
});
export type Rollout = z.infer<typeof rolloutSchema>;

/** healthy: every rollout of the commit completed; failed: one failed; superseded: a later commit took over first. */
export const revisionHealthSchema = z.enum(["progressing", "healthy", "failed", "superseded"]);
export type RevisionHealth = z.infer<typeof revisionHealthSchema>;

/** One line of `capstan history`: the revision (flat, as GET /api/revisions gives it), what it changed, its rollouts and its health. */
export const historyEntrySchema = revisionSchema.extend({
  health: revisionHealthSchema.nullable(),
  changes: z.array(objectChangeRecordSchema),
  rollouts: z.array(rolloutSchema),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

export interface WorkloadRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface HistoryQuery {
  limit?: number;
  workload?: WorkloadRef;
  shaPrefix?: string;
}

/** The rollout history, written by the sync (in applyRevision's transaction) and by the rollout tracker. */
export interface RolloutLog {
  /**
   * Newest first; with `workload`, only the revisions that started a rollout
   * of it; with `shaPrefix`, only the revisions whose sha starts with it (a
   * revision's page looks one up by a short sha).
   */
  history(options?: HistoryQuery): Promise<HistoryEntry[]>;
  /** The workload's rollout under way, if any. */
  progressing(workload: WorkloadRef): Promise<Rollout | null>;
  /**
   * Ends a rollout under way with its outcome and recomputes its revision's
   * health. False when it had already ended (another tracker got there first).
   */
  finish(id: number, outcome: "complete" | "failed", reason: string | null, at: Date): Promise<boolean>;
  /** Records the revert commit pushed for a failed rollout; false when one was already recorded (never twice). */
  markReverted(id: number, revertSha: string): Promise<boolean>;
  /** Claims the right to revert a failed rollout, once: false when already claimed. */
  claimRevert(id: number): Promise<boolean>;
  get(id: number): Promise<Rollout | null>;
}
