import { z } from "zod";
import { RollbackRefusedError } from "../errors.ts";
import type { CommitInfo, RevisionHealth, RevisionState } from "../desired/index.ts";

/**
 * The decisions of a rollback, pure: which commit to go back to and what the
 * revert commit says. The effects (writing and pushing it) are rollback.ts.
 */

const workloadPattern = /^([A-Za-z]+)\/(?:([a-z0-9-]+)\/)?([a-z0-9.-]+)$/;

/** `Deployment/web`, `deployment/shop/web`: kind, optional namespace (default "default"), name. */
export const workloadRefSchema = z.string().transform((text, ctx) => {
  const match = workloadPattern.exec(text);
  if (!match) {
    ctx.addIssue({ code: "custom", message: `expected <kind>/<name> or <kind>/<namespace>/<name>, got ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  const kind = match[1]!.charAt(0).toUpperCase() + match[1]!.slice(1);
  const canonicalKind = { Daemonset: "DaemonSet", Statefulset: "StatefulSet", Replicaset: "ReplicaSet" }[kind] ?? kind;
  return { kind: canonicalKind, namespace: match[2] ?? "default", name: match[3]! };
});

export const rollbackRequestSchema = z.strictObject({
  /** A commit sha or a unique prefix of one capstan has seen; absent: the last healthy revision before the live one. */
  to: z.string().regex(/^[0-9a-f]{4,40}$/, "a commit sha (4 to 40 hex digits)").optional(),
  /** Restore only this workload's manifest files. */
  workload: workloadRefSchema.optional(),
  dryRun: z.boolean().default(false),
  /** Who asked, for the commit's trailer. */
  requestedBy: z.string().min(1).max(200).default("unknown"),
});
export type RollbackRequest = z.infer<typeof rollbackRequestSchema>;

export interface HistoryPoint {
  sha: string;
  state: RevisionState;
  health: RevisionHealth | null;
}

/**
 * The commit to restore. `history` is newest first. With `to`, the one
 * revision whose sha starts with it (a full sha capstan never saw is taken
 * as is: Git will say whether it exists). Without, the newest healthy
 * applied revision older than the live one.
 */
export function chooseTarget(history: readonly HistoryPoint[], liveSha: string | null, to?: string): string {
  if (to) {
    const matches = history.filter((point) => point.sha.startsWith(to));
    if (matches.length === 1) return matches[0]!.sha;
    if (matches.length > 1) throw new RollbackRefusedError(`${to} is ambiguous: ${matches.map((point) => point.sha.slice(0, 10)).join(", ")}`);
    if (to.length === 40) return to;
    throw new RollbackRefusedError(`no commit starting with ${to} among the revisions capstan has seen; give the full sha`);
  }
  const liveIndex = history.findIndex((point) => point.sha === liveSha);
  if (liveIndex < 0) throw new RollbackRefusedError("no live revision to roll back from");
  const target = history.slice(liveIndex + 1).find((point) => point.state === "applied" && point.health === "healthy");
  if (!target) throw new RollbackRefusedError("no healthy revision before the live one; name one with --to");
  return target.sha;
}

export const rollbackTrailers = {
  from: "Capstan-Rollback-From",
  to: "Capstan-Rollback-To",
  workload: "Capstan-Rollback-Workload",
  requestedBy: "Capstan-Requested-By",
  autoRevertOf: "Capstan-Auto-Revert-Of",
} as const;

/** A commit capstan wrote to roll back: a failure of its rollout never triggers another auto-revert. */
export function isRollbackCommit(message: string): boolean {
  return new RegExp(`^(${rollbackTrailers.from}|${rollbackTrailers.autoRevertOf}):`, "m").test(message);
}

export interface RollbackMessageInput {
  fromSha: string;
  target: CommitInfo;
  requestedBy: string;
  workload?: { kind: string; namespace: string; name: string };
  /** Set for an auto-revert: the commit whose rollout failed, and why. */
  autoRevert?: { sha: string; subject: string; reason: string };
}

const subjectOf = (message: string): string => message.split("\n", 1)[0] ?? "";

export function rollbackMessage(input: RollbackMessageInput): string {
  const short = (sha: string) => sha.slice(0, 7);
  const workload = input.workload && `${input.workload.kind}/${input.workload.namespace}/${input.workload.name}`;
  const lines: string[] = [];
  if (input.autoRevert) {
    lines.push(`Revert ${short(input.autoRevert.sha)}: ${input.autoRevert.subject}`, "");
    lines.push(`capstan reverted this commit because the rollout of ${workload} failed: ${input.autoRevert.reason}.`);
    lines.push(`The workload's manifests are restored as of ${short(input.target.sha)} (${subjectOf(input.target.message)}).`, "");
  } else {
    lines.push(`Revert to ${short(input.target.sha)}: ${subjectOf(input.target.message)}`, "");
    if (workload) lines.push(`Only ${workload}'s manifests are restored.`, "");
  }
  lines.push(`${rollbackTrailers.from}: ${input.fromSha}`, `${rollbackTrailers.to}: ${input.target.sha}`);
  if (workload) lines.push(`${rollbackTrailers.workload}: ${workload}`);
  if (input.autoRevert) lines.push(`${rollbackTrailers.autoRevertOf}: ${input.autoRevert.sha}`);
  lines.push(`${rollbackTrailers.requestedBy}: ${input.requestedBy}`);
  return `${lines.join("\n")}\n`;
}
