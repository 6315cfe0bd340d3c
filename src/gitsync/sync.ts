import { backoffDelay } from "../backoff.ts";
import type { Clock } from "../clock.ts";
import { ManifestError, messageOf, type ManifestProblem } from "../errors.ts";
import type { Logger } from "../logging.ts";
import { checkImmutableConfig, type ApplySummary, type CommitInfo, type DesiredObject, type DesiredStore, type RolloutLog, type ValidationPool, type ValidationResult } from "../desired/index.ts";
import { validateTree, type TreeCache, type TreeFile } from "./commit-files.ts";
import type { GitSource } from "./source.ts";
import { declaredFromStored, planStages, waitForWave, waveOf } from "./waves.ts";

export interface GitSyncOptions {
  source: GitSource;
  store: DesiredStore;
  clock: Clock;
  log: Logger;
  /** What the store records as the source (no credentials). */
  describe: { url: string; branch: string; path: string };
  pollIntervalMs: number;
  /** How long stop() waits for a pass under way; default 5 s. */
  stopGraceMs?: number;
  /** Upper bound of the back-off while the source or the store fails. */
  maxBackoffMs?: number;
  /**
   * First retry after a failed pass, when shorter than the poll interval
   * (default 1 s). A pass that a trigger (a webhook) started and a store
   * blip failed must not wait out a long poll interval: the pushed commit
   * would sit unapplied for minutes after the database came back.
   */
  retryInitialMs?: number;
  /** Parses many changed files at once on worker threads (a full sync); without it, all on this thread. */
  validationPool?: ValidationPool;
  /** How many new commits one fetch records; older ones beyond it are not recorded at all. */
  maxCommitsPerFetch?: number;
  /** Enables sync waves: a wave is applied once the previous wave's rollouts are done. */
  rollouts?: RolloutLog;
  /** Told how every pass ended and how long it took (/metrics); never told anything secret. */
  observer?: SyncObserver;
}

/** How one fetch-validate-store pass ended: its outcome, or the step that threw. */
export type SyncPassOutcome = SyncOutcome["result"] | "fetchFailed" | "applyFailed";

export interface SyncObserver {
  passEnded(pass: { outcome: SyncPassOutcome; seconds: number }): void;
}

export type SyncOutcome =
  | { result: "unchanged"; sha: string }
  | { result: "applied"; sha: string; created: number; updated: number; unchanged: number; deleted: number }
  | { result: "rejected"; sha: string; problems: ManifestProblem[] };

/**
 * Pulls the watched branch into the desired store: on every poll tick or
 * webhook trigger it fetches, and for a new tip validates the whole tree and
 * applies it as one revision, or rejects it whole. Intermediate commits of a
 * fetch are recorded as superseded; the branch tip is the truth, so a
 * force-push simply makes an older tree the next revision.
 */
export class GitSync {
  /** Parsed results of the tree at `parsedSha`, by path, so unchanged blobs are not parsed again. */
  private files = new Map<string, TreeFile>();
  private readonly cache: TreeCache = { results: new Map() };
  private parsedSha: string | null = null;
  private running: Promise<void> | null = null;
  private readonly stopController = new AbortController();
  private wakeController = new AbortController();
  private triggered = false;

  constructor(private readonly options: GitSyncOptions) {}

  /** Starts the poll loop; resolves at once. */
  start(): void {
    this.running ??= this.loop();
  }

  /** Fetches as soon as possible (webhook); coalesces with a fetch already under way. */
  trigger(): void {
    this.triggered = true;
    this.wakeController.abort();
  }

  /**
   * Stops the loop. A pass under way is awaited for at most `stopGraceMs`: a
   * fetch from a hanging remote must not hold up SIGTERM for its whole
   * timeout. An abandoned pass fails harmlessly once the store is closed,
   * and writes nothing partial: each write is one transaction.
   */
  async stop(): Promise<void> {
    this.stopController.abort();
    this.wakeController.abort();
    if (!this.running) return;
    const grace = new AbortController();
    await Promise.race([this.running, this.options.clock.sleep(this.options.stopGraceMs ?? 5_000, grace.signal)]);
    grace.abort();
  }

  /** One fetch-validate-store pass. Throws when the source or the store fails. */
  async syncOnce(): Promise<SyncOutcome> {
    const started = performance.now();
    const progress = { fetched: false };
    const ended = (outcome: SyncPassOutcome) => this.options.observer?.passEnded({ outcome, seconds: (performance.now() - started) / 1000 });
    try {
      const outcome = await this.#pass(progress);
      ended(outcome.result);
      return outcome;
    } catch (error) {
      ended(progress.fetched ? "applyFailed" : "fetchFailed");
      throw error;
    }
  }

  async #pass(progress: { fetched: boolean }): Promise<SyncOutcome> {
    const { source, store, clock, describe } = this.options;
    let tip: string;
    try {
      tip = await source.fetch();
    } catch (error) {
      await store.recordFetch({ ...describe, at: clock.now(), error: messageOf(error) });
      throw error;
    }
    progress.fetched = true;
    await store.recordFetch({ ...describe, at: clock.now(), error: null });

    const state = await store.getSyncState();
    const lastSeen = state?.lastSeenSha ?? null;
    if (tip === lastSeen) {
      if (state?.liveSha === tip) await this.repairDrift(tip);
      return { result: "unchanged", sha: tip };
    }

    const commits = await source.commitsBetween(lastSeen, tip, this.options.maxCommitsPerFetch ?? 50);
    const tipCommit = commits.at(-1) ?? (await source.commitInfo(tip));
    await store.supersedeRevisions(commits.filter((commit) => commit.sha !== tip));

    let validated: ValidationResult;
    try {
      validated = await this.validateTreeAt(tip);
    } catch (error) {
      // A commit without the manifests directory is a bad commit, not a broken source.
      if (!(error instanceof ManifestError)) throw error;
      validated = { objects: [], problems: error.problems };
    }
    const { objects } = validated;
    const problems = [...validated.problems, ...(await this.immutableProblems(objects))];
    if (problems.some((problem) => problem.severity === "error")) {
      await store.rejectRevision(tipCommit, problems);
      this.options.log.warn(
        { sha: tip, errors: problems.filter((problem) => problem.severity === "error").length },
        "commit rejected: the previous revision stays live",
      );
      return { result: "rejected", sha: tip, problems };
    }
    const summary = await this.apply(tipCommit, objects, problems);
    this.options.log.info({ sha: tip, ...summary }, "revision applied");
    return { result: "applied", sha: tip, ...summary };
  }

  /** Changes to ConfigMaps and Secrets that are immutable in the live revision: the API server would refuse them. */
  private async immutableProblems(objects: ValidationResult["objects"]): Promise<ManifestProblem[]> {
    if (!objects.some((object) => object.kind === "ConfigMap" || object.kind === "Secret")) return [];
    const { store } = this.options;
    const live = (await Promise.all([store.listObjects({ kind: "ConfigMap" }), store.listObjects({ kind: "Secret" })])).flat();
    return checkImmutableConfig(objects, live);
  }

  /**
   * Applies the commit, wave by wave when its objects name several sync
   * waves: each stage is one transaction, and the next waits for the
   * previous wave's rollouts. A failed wave stops there (the later waves
   * keep what was live; the revision's health says failed) and, the commit
   * not being recorded as seen, the next pass tries its waves again, as does
   * a sync restarted mid-way.
   */
  private async apply(commit: CommitInfo, objects: DesiredObject[], warnings: ManifestProblem[]): Promise<ApplySummary> {
    const { store, rollouts, clock, log } = this.options;
    // Reading the live objects costs a full listing: only for a commit that uses waves at all.
    if (!rollouts || new Set(objects.map(waveOf)).size <= 1) return store.applyRevision(commit, objects, warnings);
    const stages = planStages(objects, (await store.listObjects({ source: "git" })).map(declaredFromStored));
    if (stages.length <= 1) return store.applyRevision(commit, objects, warnings);
    // A commit whose waves are tried again keeps the changes its earlier passes recorded.
    const again = (await store.getRevision(commit.sha))?.state === "applied";
    let summary: ApplySummary = { created: 0, updated: 0, unchanged: 0, deleted: 0 };
    for (const [index, stage] of stages.entries()) {
      const last = index === stages.length - 1;
      summary = await store.applyRevision(commit, stage.objects, warnings, { appendChanges: again || index > 0, partial: !last });
      log.info({ sha: commit.sha, wave: stage.wave }, "sync wave applied");
      if (last) break;
      const outcome = await waitForWave(rollouts, commit.sha, stage.members, clock, this.stopController.signal);
      if (outcome !== "ready") {
        log.warn({ sha: commit.sha, wave: stage.wave, outcome }, "sync wave did not become ready: later waves not applied");
        break;
      }
    }
    return summary;
  }

  /**
   * Git is the truth between commits too: a git-sourced object edited,
   * deleted or added in the database behind capstan's back is put back to the
   * live commit's version, with a DriftRepaired event. Cheap when nothing
   * drifted: one count, no tree read.
   */
  private async repairDrift(sha: string): Promise<void> {
    const { store, clock, log } = this.options;
    const revision = await store.getRevision(sha);
    if (!(await store.driftSuspected(revision?.objectCount ?? -1))) return;
    const { objects, problems } = await this.validateTreeAt(sha);
    if (problems.some((problem) => problem.severity === "error")) return;
    for (const repair of await store.repairDrift(sha, objects)) {
      const commit = sha.slice(0, 7);
      const message = {
        reset: `edited in the database; reset to Git's version of commit ${commit}`,
        recreated: `deleted in the database; re-created from commit ${commit}`,
        deleted: `not declared in commit ${commit}; deleted`,
      }[repair.action];
      const about = { kind: repair.kind, namespace: repair.namespace, name: repair.name };
      await store.recordEvent({ ...about, type: "Warning", reason: "DriftRepaired", message, source: "gitsync", at: clock.now() });
      log.warn({ ...repair, sha }, "drift repaired");
    }
  }

  private async loop(): Promise<void> {
    const { clock, log, pollIntervalMs } = this.options;
    let failures = 0;
    while (!this.stopController.signal.aborted) {
      this.triggered = false;
      let delayMs = pollIntervalMs;
      try {
        await this.syncOnce();
        failures = 0;
      } catch (error) {
        failures++;
        const initialMs = Math.min(pollIntervalMs, this.options.retryInitialMs ?? 1_000);
        delayMs = backoffDelay(failures - 1, { initialMs, maxMs: this.options.maxBackoffMs ?? 300_000 });
        log.error({ err: messageOf(error), retryInMs: delayMs }, "sync failed");
      }
      if (this.triggered || this.stopController.signal.aborted) continue;
      this.wakeController = new AbortController();
      await clock.sleep(delayMs, AbortSignal.any([this.wakeController.signal, this.stopController.signal]));
    }
  }

  /**
   * The tree at `sha`, validated. Only blobs whose id changed since the last
   * read tree are listed from a diff, and only changed files are parsed again.
   */
  private async validateTreeAt(sha: string): Promise<ValidationResult> {
    const { source, validationPool: pool } = this.options;
    try {
      const files = new Map(this.files);
      if (this.parsedSha !== null) {
        for (const change of await source.changedBlobs(this.parsedSha, sha)) {
          if (change.oid === null) files.delete(change.path);
          else files.set(change.path, { oid: change.oid, symlink: change.symlink });
        }
      } else {
        files.clear();
        for (const blob of await source.listManifestBlobs(sha)) files.set(blob.path, { oid: blob.oid, symlink: blob.symlink });
      }
      const result = await validateTree(files, (oid) => source.readBlob(oid), this.cache, pool);
      this.files = files;
      this.parsedSha = sha;
      return result;
    } catch (error) {
      // The cache may no longer match any tree: start from a full read next time.
      this.files = new Map();
      this.parsedSha = null;
      throw error;
    }
  }
}
