import { performance } from "node:perf_hooks";
import type pg from "pg";
import type { LostLeadershipError } from "../errors.ts";
import { messageOf } from "../errors.ts";
import type { Logger } from "../logging.ts";
import {
  afterAttempt,
  afterFenced,
  afterShutdown,
  attemptTimeoutMs,
  initialElectionState,
  knownLeader,
  type ElectionAction,
  type ElectionState,
  type ElectionStep,
  type ElectionTiming,
  type LeaseHolder,
  type LeaseOutcome,
  type StopReason,
} from "./election.ts";
import { releaseLease, tryAcquireOrRenew } from "./lease-pg.ts";

export interface LeaderElectorOptions {
  /** A pool of the elector's own, so that busy components cannot starve its renewals. */
  pool: pg.Pool;
  lease: string;
  replica: string;
  /** Where this replica serves its page and API, stored with the lease for followers to show. */
  url: string | null;
  timing: ElectionTiming;
  log: Logger;
  /** A new term began: start the leader's components with this fencing token. */
  onStartedLeading(token: number): void;
  /** The term ended: stop them. Awaited on shutdown, before the lease is released. */
  onStoppedLeading(token: number, reason: StopReason): void | Promise<void>;
  /** Monotonic milliseconds; tests inject their own. */
  now?: () => number;
}

export interface LeadershipView {
  replica: string;
  role: "leader" | "follower";
  leader: LeaseHolder | null;
  /** Writes of this replica's terms that the fence refused. */
  fencedWrites: number;
}

/**
 * Runs the election of election.ts against the lease row: one attempt at a
 * time, the next when the state machine says, or at once when a release is
 * announced (`wake`) or a write was fenced.
 */
export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #now: () => number;
  #state: ElectionState = initialElectionState;
  #timer: NodeJS.Timeout | undefined;
  #attempt: Promise<void> | undefined;
  #stopped = false;
  #fencedWrites = 0;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  start(): void {
    this.#schedule(0);
  }

  /** Attempt now: the lease was released or handed over (NOTIFY on capstan_leader). */
  wake(): void {
    if (this.#state.role === "follower") this.#schedule(0);
  }

  /** The fence refused a write of term `error.heldToken`: that term is over. */
  fenced(error: LostLeadershipError): void {
    this.#fencedWrites++;
    this.#options.log.warn(
      { term: error.heldToken, currentTerm: error.currentToken, holder: error.currentHolder },
      "write refused: another replica holds the lease; stepping down",
    );
    void this.#apply(afterFenced(this.#state, error.heldToken));
  }

  /**
   * The term's components could not start: give the term up and the lease
   * with it, so another replica may try, and try again ourselves later.
   */
  abandon(token: number): void {
    const step = afterFenced(this.#state, token);
    if (step.actions.length === 0) return;
    void this.#apply({ ...step, nextAttemptInMs: 2 * this.#options.timing.renewIntervalMs }).then(() =>
      releaseLease(this.#options.pool, this.#options.lease, this.#options.replica, token).catch(() => false),
    );
  }

  view(): LeadershipView {
    return {
      replica: this.#options.replica,
      role: this.#state.role,
      leader: knownLeader(this.#state, this.#now()),
      fencedWrites: this.#fencedWrites,
    };
  }

  /** Stops attempting; a leader stops its components, then releases the lease so a follower takes over at once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#attempt;
    const held = this.#state.role === "leader" ? this.#state.token : null;
    await this.#apply(afterShutdown(this.#state));
    if (held === null) return;
    try {
      await releaseLease(this.#options.pool, this.#options.lease, this.#options.replica, held);
      this.#options.log.info({ term: held }, "lease released");
    } catch (error) {
      this.#options.log.warn({ err: messageOf(error) }, "could not release the lease; it runs out by itself");
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || !Number.isFinite(delayMs)) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#attempt) return this.#schedule(10);
      this.#attempt = this.#attemptOnce().finally(() => (this.#attempt = undefined));
    }, delayMs);
  }

  async #attemptOnce(): Promise<void> {
    const { timing } = this.#options;
    const startedMs = this.#now();
    // An answer that comes after the timeout is dropped: if it was an
    // acquisition, the next attempt finds the lease ours and takes it anew.
    const outcome = await withTimeout(
      tryAcquireOrRenew(this.#options.pool, {
        lease: this.#options.lease,
        replica: this.#options.replica,
        url: this.#options.url,
        leaseMs: timing.leaseMs,
        heldToken: this.#state.role === "leader" ? this.#state.token : null,
      }),
      attemptTimeoutMs(this.#state, startedMs, timing),
    );
    if (this.#stopped) return;
    if (outcome.type === "failed") this.#options.log.warn({ err: outcome.error, role: this.#state.role }, "lease attempt failed");
    this.#apply(afterAttempt(this.#state, outcome, this.#options.replica, startedMs, this.#now(), timing));
  }

  #apply(step: ElectionStep): Promise<void> {
    const before = this.#state;
    this.#state = step.state;
    const stops: Array<void | Promise<void>> = [];
    for (const action of step.actions) stops.push(this.#act(action, before));
    this.#schedule(step.nextAttemptInMs);
    return Promise.all(stops).then(() => undefined);
  }

  #act(action: ElectionAction, before: ElectionState): void | Promise<void> {
    const { log } = this.#options;
    if (action.type === "startLeading") {
      // Logged as `term`: the logger redacts any field named token.
      log.info({ term: action.token, previousLeader: before.leader?.holder ?? null }, "became leader");
      this.#options.onStartedLeading(action.token);
      return;
    }
    log.warn({ term: action.token, reason: action.reason }, action.reason === "released" ? "stepping down" : "lost leadership");
    return this.#options.onStoppedLeading(action.token, action.reason);
  }
}

async function withTimeout(attempt: Promise<LeaseOutcome>, timeoutMs: number): Promise<LeaseOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<LeaseOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ type: "failed", error: `no answer in ${Math.round(timeoutMs)} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([attempt.catch((error: unknown): LeaseOutcome => ({ type: "failed", error: messageOf(error) })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
