/**
 * Leader election as a pure state machine (house style 3 and 4): what one
 * replica does after each acquire-or-renew attempt, given the attempt's
 * outcome and the time on an injected monotonic clock. The SQL that makes the
 * attempt is in lease-pg.ts; the loop that runs it is elector.ts.
 *
 * The figures follow Kubernetes' client-go leaderelection (lease 15 s, renew
 * deadline 10 s, retry 2 s), scaled down because a capstan failover should take
 * at most about 5 s: a dead leader's lease runs out 3-4 s after its last
 * renewal and a follower that saw when it would run out tries just then.
 */

export interface ElectionTiming {
  /** How long a lease lasts after each renewal, by the database's clock. */
  leaseMs: number;
  /** How often the leader renews, and the longest a follower waits between attempts. */
  renewIntervalMs: number;
  /**
   * A leader that has not renewed for this long (counted from when it sent its
   * last successful renewal) steps down. Shorter than the lease, so that it
   * stops its components before any other replica can take over.
   */
  renewDeadlineMs: number;
}

export const defaultElectionTiming: ElectionTiming = { leaseMs: 4_000, renewIntervalMs: 1_000, renewDeadlineMs: 3_000 };

/** A follower never retries sooner than this, so a lost race cannot spin. */
const minimumRetryMs = 50;
/** A leader that resumes past its deadline still asks the database, but gives it no longer than this. */
const minimumAttemptMs = 200;

/** The holder of a lease as a replica last saw it. */
export interface LeaseHolder {
  holder: string;
  url: string | null;
  token: number;
  /** Until when (this replica's monotonic ms) the lease was live when last seen. */
  liveUntilMs: number;
}

export type ElectionState =
  | { role: "follower"; leader: LeaseHolder | null }
  | { role: "leader"; token: number; leader: LeaseHolder; validUntilMs: number };

/** What one acquire-or-renew statement found. */
export type LeaseOutcome =
  /** This replica holds the lease (just acquired it, or renewed it). */
  | { type: "mine"; token: number; url: string | null }
  /** Another replica holds it; `expiresInMs` by the database's clock (0 when it has run out). */
  | { type: "theirs"; holder: string; url: string | null; token: number; expiresInMs: number }
  /** The database did not answer (error or timeout). */
  | { type: "failed"; error: string };

export type StopReason = "lost" | "renewDeadline" | "fenced" | "released";

export type ElectionAction = { type: "startLeading"; token: number } | { type: "stopLeading"; token: number; reason: StopReason };

export interface ElectionStep {
  state: ElectionState;
  actions: ElectionAction[];
  /** When to make the next attempt, from now. */
  nextAttemptInMs: number;
}

export const initialElectionState: ElectionState = { role: "follower", leader: null };

/**
 * The next state after an attempt that started at `attemptStartedMs` and
 * ended with `outcome` at `nowMs` (both on the same monotonic clock).
 */
export function afterAttempt(
  state: ElectionState,
  outcome: LeaseOutcome,
  replica: string,
  attemptStartedMs: number,
  nowMs: number,
  timing: ElectionTiming,
): ElectionStep {
  switch (outcome.type) {
    case "mine": {
      const leader: LeaseHolder = { holder: replica, url: outcome.url, token: outcome.token, liveUntilMs: attemptStartedMs + timing.leaseMs };
      // The deadline counts from when the renewal was sent: the database
      // stamped it no earlier, so our deadline falls before its expiry.
      const next: ElectionState = { role: "leader", token: outcome.token, leader, validUntilMs: attemptStartedMs + timing.renewDeadlineMs };
      const actions: ElectionAction[] = [];
      if (state.role === "leader" && state.token !== outcome.token) {
        // Another replica led in between without us noticing (we were paused
        // through its whole term): whatever our components hold is stale.
        actions.push({ type: "stopLeading", token: state.token, reason: "lost" });
      }
      if (state.role !== "leader" || state.token !== outcome.token) actions.push({ type: "startLeading", token: outcome.token });
      return { state: next, actions, nextAttemptInMs: timing.renewIntervalMs };
    }
    case "theirs": {
      const leader: LeaseHolder = { holder: outcome.holder, url: outcome.url, token: outcome.token, liveUntilMs: nowMs + outcome.expiresInMs };
      const actions: ElectionAction[] =
        state.role === "leader" ? [{ type: "stopLeading", token: state.token, reason: "lost" }] : [];
      // Try again right when the lease would run out, or after one interval
      // to keep the known leader fresh, whichever comes first.
      const nextAttemptInMs = Math.min(timing.renewIntervalMs, Math.max(minimumRetryMs, outcome.expiresInMs + minimumRetryMs));
      return { state: { role: "follower", leader }, actions, nextAttemptInMs };
    }
    case "failed": {
      if (state.role === "leader") {
        if (nowMs >= state.validUntilMs) {
          return {
            state: { role: "follower", leader: null },
            actions: [{ type: "stopLeading", token: state.token, reason: "renewDeadline" }],
            nextAttemptInMs: timing.renewIntervalMs,
          };
        }
        // Retry soon enough that a last attempt lands before the deadline.
        return { state, actions: [], nextAttemptInMs: Math.max(minimumRetryMs, Math.min(timing.renewIntervalMs, state.validUntilMs - nowMs)) };
      }
      return { state, actions: [], nextAttemptInMs: timing.renewIntervalMs };
    }
  }
}

/**
 * A write of the term `token` was refused because the lease moved on: the
 * term is over whatever the last renewal said. Attempt at once, to learn
 * who leads now.
 */
export function afterFenced(state: ElectionState, token: number): ElectionStep {
  if (state.role !== "leader" || state.token !== token) return { state, actions: [], nextAttemptInMs: Number.POSITIVE_INFINITY };
  return { state: { role: "follower", leader: null }, actions: [{ type: "stopLeading", token, reason: "fenced" }], nextAttemptInMs: 0 };
}

/** Shutdown: a leader stops its components (and then releases the lease). */
export function afterShutdown(state: ElectionState): ElectionStep {
  const actions: ElectionAction[] = state.role === "leader" ? [{ type: "stopLeading", token: state.token, reason: "released" }] : [];
  return { state: { role: "follower", leader: null }, actions, nextAttemptInMs: Number.POSITIVE_INFINITY };
}

/**
 * How long the attempt about to start may take. A leader gets until its
 * deadline (at least a short grace, so that one resumed after a pause asks the
 * database before giving up), a follower one interval.
 */
export function attemptTimeoutMs(state: ElectionState, nowMs: number, timing: ElectionTiming): number {
  if (state.role !== "leader") return timing.renewIntervalMs;
  return Math.min(timing.renewIntervalMs, Math.max(minimumAttemptMs, state.validUntilMs - nowMs));
}

/** The leader as this replica knows it right now, or null when none is known to hold a live lease. */
export function knownLeader(state: ElectionState, nowMs: number): LeaseHolder | null {
  if (state.role === "leader") return state.leader;
  return state.leader && state.leader.liveUntilMs > nowMs ? state.leader : null;
}
