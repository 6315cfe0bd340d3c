import { z } from "zod";
import type { Clock } from "../clock.ts";
import { BranchMovedError, messageOf, RollbackRefusedError } from "../errors.ts";
import type { Logger } from "../logging.ts";
import { diffObjects, objectChangeRecordSchema, type DesiredObject, type DesiredStore, type RolloutLog, type StoredObject } from "../desired/index.ts";
import { validateTree, type TreeFile } from "./commit-files.ts";
import { chooseTarget, isRollbackCommit, rollbackMessage, type RollbackRequest } from "./rollback-plan.ts";
import type { GitSource } from "./source.ts";

export const rollbackResultSchema = z.object({
  /** The commit pushed; for a dry run, the commit that would be (written, not on any branch). */
  sha: z.string(),
  pushed: z.boolean(),
  fromSha: z.string(),
  toSha: z.string(),
  message: z.string(),
  changes: z.array(objectChangeRecordSchema),
});
export type RollbackResult = z.infer<typeof rollbackResultSchema>;

export const diffResultSchema = z.object({ fromSha: z.string(), toSha: z.string(), changes: z.array(objectChangeRecordSchema) });

export interface RollbackServiceOptions {
  source: GitSource;
  store: DesiredStore;
  rollouts: RolloutLog;
  clock: Clock;
  log: Logger;
  /** Called once a rollback commit is on the branch: the sync should fetch it now rather than at the next poll. */
  onPublished?: () => void;
}

const author = { name: "capstan", email: "capstan@localhost" };

/**
 * Rollbacks as commits (DESIGN.md): the revert commit is written on top of the
 * branch tip capstan last synced and published only if the branch is still
 * there. The sync then rolls it out like any other commit.
 */
export class RollbackService {
  constructor(private readonly options: RollbackServiceOptions) {}

  /** The manifest-level difference between two commits; with one, between it and its parent. */
  async diff(fromSha: string, toSha?: string): Promise<z.infer<typeof diffResultSchema>> {
    const { source } = this.options;
    await source.fetch();
    let from = await this.resolve(fromSha);
    let to = toSha === undefined ? undefined : await this.resolve(toSha);
    if (to === undefined) {
      to = from;
      from = (await source.commitInfo(from)).parentSha ?? "";
    }
    const before = from ? await this.objectsAt(from) : [];
    return { fromSha: from, toSha: to, changes: diffObjects(before, await this.objectsAt(to)) };
  }

  async rollback(request: RollbackRequest, autoRevert?: { sha: string; subject: string; reason: string }): Promise<RollbackResult> {
    const { source, store, rollouts, clock, log } = this.options;
    const tip = await source.fetch();
    const sync = await store.getSyncState();
    // Built on what capstan last synced (or runs: a commit whose later sync waves wait): a newer commit nobody has seen applied must not be reverted blindly.
    const known = sync?.lastSeenSha ?? null;
    if (known && tip !== known && tip !== sync?.liveSha) throw new BranchMovedError(source.branch, known, tip);
    const history = (await rollouts.history({ limit: 500 })).map((entry) => ({ sha: entry.sha, state: entry.state, health: entry.health }));
    const targetSha = chooseTarget(history, sync?.liveSha ?? null, request.to);
    const target = await source.commitInfo(targetSha).catch((error: unknown) => {
      throw new RollbackRefusedError(`commit ${targetSha.slice(0, 10)} cannot be read: ${messageOf(error)}`);
    });
    const files = request.workload ? await this.workloadFiles(request.workload, targetSha) : undefined;
    const message = rollbackMessage({ fromSha: tip, target, requestedBy: request.requestedBy, workload: request.workload, autoRevert });
    const written = await source.writeRestoreCommit({ baseSha: tip, targetSha, files, message, author, now: clock.now() });
    if (!written.changed) throw new RollbackRefusedError(`the branch already holds the manifests of ${targetSha.slice(0, 10)}: nothing to roll back`);
    const changes = diffObjects(await this.objectsAt(tip), await this.objectsAt(written.sha));
    const result: RollbackResult = { sha: written.sha, pushed: false, fromSha: tip, toSha: targetSha, message, changes };
    if (request.dryRun) return result;
    await source.publish(written.sha, tip);
    log.info({ sha: written.sha, from: tip, to: targetSha, workload: request.workload }, "rollback commit published");
    this.options.onPublished?.();
    return { ...result, pushed: true };
  }

  /**
   * Reverts the commit whose rollout failed, for that workload only, once
   * per rollout. A commit that is itself a rollback is never reverted, so
   * a revert that also fails cannot start a loop. Returns what happened, for
   * the workload's events.
   */
  async autoRevert(failure: { rolloutId: number; revisionSha: string; workload: StoredObject; reason: string }): Promise<{ type: "Normal" | "Warning"; reason: string; message: string }> {
    const { store, rollouts } = this.options;
    const revision = await store.getRevision(failure.revisionSha);
    const short = failure.revisionSha.slice(0, 7);
    if (!revision?.parentSha) return { type: "Warning", reason: "AutoRevertSkipped", message: `commit ${short} has no parent to go back to` };
    if (isRollbackCommit(revision.message)) {
      return { type: "Warning", reason: "AutoRevertSkipped", message: `commit ${short} is itself a rollback; not reverting it again` };
    }
    if (!(await rollouts.claimRevert(failure.rolloutId))) return { type: "Normal", reason: "AutoRevertSkipped", message: `commit ${short} was already reverted` };
    const { kind, namespace, name } = failure.workload;
    try {
      const result = await this.rollback(
        { to: revision.parentSha, workload: { kind, namespace, name }, dryRun: false, requestedBy: "capstan auto-revert" },
        { sha: revision.sha, subject: revision.message.split("\n", 1)[0] ?? "", reason: failure.reason },
      );
      await rollouts.markReverted(failure.rolloutId, result.sha);
      return { type: "Normal", reason: "AutoReverted", message: `Pushed ${result.sha.slice(0, 7)} reverting commit ${short}: ${failure.reason}` };
    } catch (error) {
      return { type: "Warning", reason: "AutoRevertFailed", message: `Could not revert commit ${short}: ${messageOf(error)}` };
    }
  }

  /** A full sha from a prefix of one capstan has seen. */
  private async resolve(sha: string): Promise<string> {
    if (sha.length === 40) return sha;
    const history = await this.options.rollouts.history({ limit: 500 });
    return chooseTarget(history.map((entry) => ({ sha: entry.sha, state: entry.state, health: entry.health })), null, sha);
  }

  /** The files that declare the workload at the target and now: restoring both moves it back even if it changed file. */
  private async workloadFiles(workload: { kind: string; namespace: string; name: string }, targetSha: string): Promise<string[]> {
    const same = (object: { kind: string; namespace: string; name: string }) =>
      object.kind === workload.kind && object.namespace === workload.namespace && object.name === workload.name;
    const then = (await this.objectsAt(targetSha)).find(same);
    const now = await this.options.store.getObject(workload);
    const files = new Set<string>();
    if (then) files.add(then.source.file);
    if (now?.source === "git" && now.sourceFile) files.add(now.sourceFile);
    if (files.size === 0) throw new RollbackRefusedError(`${workload.kind}/${workload.namespace}/${workload.name} is neither live nor in commit ${targetSha.slice(0, 10)}`);
    return [...files];
  }

  /** The manifests of a commit, parsed as the sync would (problems ignored: a diff shows what is there). */
  private async objectsAt(sha: string): Promise<DesiredObject[]> {
    const { source } = this.options;
    const files = new Map<string, TreeFile>();
    for (const blob of await source.listManifestBlobs(sha)) files.set(blob.path, { oid: blob.oid, symlink: blob.symlink });
    return (await validateTree(files, (oid) => source.readBlob(oid), { results: new Map() })).objects;
  }
}
