/**
 * Leader election among control-plane replicas sharing one database, and the
 * fence that keeps an old leader's writes out. Other folders import from here only.
 */
export {
  afterAttempt,
  afterFenced,
  afterShutdown,
  attemptTimeoutMs,
  defaultElectionTiming,
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
export { LeaderElector, type LeaderElectorOptions, type LeadershipView } from "./elector.ts";
export { LeaseFence } from "./fence.ts";
export { controlPlaneLease, leaderChannel, releaseLease, tryAcquireOrRenew, type LeaseCandidate } from "./lease-pg.ts";
export { TermRunner, type LeaderTerm } from "./term.ts";
