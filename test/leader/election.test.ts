import { describe, expect, it } from "vitest";
import {
  afterAttempt,
  afterFenced,
  afterShutdown,
  attemptTimeoutMs,
  knownLeader,
  type ElectionState,
  type ElectionTiming,
  type LeaseOutcome,
} from "../../src/leader/index.ts";

const timing: ElectionTiming = { leaseMs: 4_000, renewIntervalMs: 1_000, renewDeadlineMs: 3_000 };
const me = "replica-a";
const follower: ElectionState = { role: "follower", leader: null };
const followingB: ElectionState = { role: "follower", leader: { holder: "replica-b", url: "http://b", token: 6, liveUntilMs: 13_000 } };
/** Leading term 5; last renewal sent at t=10 000, so valid until 13 000. */
const leading: ElectionState = {
  role: "leader",
  token: 5,
  leader: { holder: me, url: "http://a", token: 5, liveUntilMs: 14_000 },
  validUntilMs: 13_000,
};

const mine = (token: number): LeaseOutcome => ({ type: "mine", token, url: "http://a" });
const theirs = (expiresInMs: number, token = 6): LeaseOutcome => ({ type: "theirs", holder: "replica-b", url: "http://b", token, expiresInMs });
const failed: LeaseOutcome = { type: "failed", error: "connection refused" };

describe("afterAttempt: what a replica does after one acquire-or-renew", () => {
  // [case, state before, outcome, attempt started at, answered at, role after, actions, next attempt in]
  const cases: Array<[string, ElectionState, LeaseOutcome, number, number, "leader" | "follower", unknown[], number]> = [
    ["a follower that acquires starts leading", follower, mine(7), 20_000, 20_005, "leader", [{ type: "startLeading", token: 7 }], 1_000],
    ["a leader that renews its own term carries on", leading, mine(5), 11_000, 11_004, "leader", [], 1_000],
    [
      "a leader whose renewal comes back with another token lost a term it never saw: stop, then start anew",
      leading,
      mine(8),
      11_000,
      11_004,
      "leader",
      [
        { type: "stopLeading", token: 5, reason: "lost" },
        { type: "startLeading", token: 8 },
      ],
      1_000,
    ],
    ["a leader that finds another holder stops at once", leading, theirs(3_900), 11_000, 11_003, "follower", [{ type: "stopLeading", token: 5, reason: "lost" }], 1_000],
    ["a follower of a fresh lease tries again after one interval", followingB, theirs(3_900), 20_000, 20_002, "follower", [], 1_000],
    ["a follower tries again right when the lease runs out", followingB, theirs(300), 20_000, 20_002, "follower", [], 350],
    ["a follower that lost a race for a run-out lease retries soon, not at once", follower, theirs(0), 20_000, 20_002, "follower", [], 50],
    ["a leader whose renewal failed before its deadline keeps leading and retries", leading, failed, 11_000, 11_500, "leader", [], 1_000],
    ["a leader close to its deadline retries just before it", leading, failed, 12_000, 12_600, "leader", [], 400],
    ["a leader whose renewal failed past its deadline steps down", leading, failed, 12_800, 13_000, "follower", [{ type: "stopLeading", token: 5, reason: "renewDeadline" }], 1_000],
    ["a follower whose attempt failed retries after one interval", followingB, failed, 20_000, 20_100, "follower", [], 1_000],
  ];

  it.each(cases)("%s", (_name, before, outcome, startedMs, nowMs, role, actions, nextAttemptInMs) => {
    const step = afterAttempt(before, outcome, me, startedMs, nowMs, timing);
    expect(step.state.role).toBe(role);
    expect(step.actions).toEqual(actions);
    expect(step.nextAttemptInMs).toBe(nextAttemptInMs);
  });

  it("counts the leader's deadline from when the renewal was sent, not from when it was answered", () => {
    const step = afterAttempt(follower, mine(7), me, 20_000, 20_900, timing);
    expect(step.state).toMatchObject({ role: "leader", token: 7, validUntilMs: 23_000 });
  });

  it("remembers the other holder and until when its lease is live, on this replica's clock", () => {
    const step = afterAttempt(follower, theirs(2_500), me, 20_000, 20_010, timing);
    expect(step.state).toEqual({ role: "follower", leader: { holder: "replica-b", url: "http://b", token: 6, liveUntilMs: 22_510 } });
  });
});

describe("afterFenced: a write of a term was refused", () => {
  it("ends that term at once and attempts at once to learn who leads", () => {
    const step = afterFenced(leading, 5);
    expect(step).toEqual({ state: { role: "follower", leader: null }, actions: [{ type: "stopLeading", token: 5, reason: "fenced" }], nextAttemptInMs: 0 });
  });

  it("ignores a refusal of an older term: the current one is not affected", () => {
    const step = afterFenced({ ...leading, token: 8 }, 5);
    expect(step.actions).toEqual([]);
    expect(step.state.role).toBe("leader");
  });

  it("ignores a refusal when already following", () => {
    expect(afterFenced(followingB, 5).actions).toEqual([]);
  });
});

describe("afterShutdown", () => {
  it("has a leader stop its components (the lease is released after)", () => {
    expect(afterShutdown(leading).actions).toEqual([{ type: "stopLeading", token: 5, reason: "released" }]);
  });

  it("has a follower do nothing", () => {
    expect(afterShutdown(followingB).actions).toEqual([]);
  });
});

describe("attemptTimeoutMs", () => {
  const cases: Array<[string, ElectionState, number, number]> = [
    ["a follower waits one interval", followingB, 20_000, 1_000],
    ["a leader well within its deadline waits one interval", leading, 11_000, 1_000],
    ["a leader near its deadline waits only until it", leading, 12_600, 400],
    ["a leader resumed after a pause past its deadline still asks, briefly", leading, 30_000, 200],
  ];
  it.each(cases)("%s", (_name, state, nowMs, expected) => {
    expect(attemptTimeoutMs(state, nowMs, timing)).toBe(expected);
  });
});

describe("knownLeader", () => {
  it("is this replica while it leads", () => {
    expect(knownLeader(leading, 99_000)?.holder).toBe(me);
  });

  it("is the other holder while its lease was live when last seen, and nobody after", () => {
    expect(knownLeader(followingB, 12_999)?.holder).toBe("replica-b");
    expect(knownLeader(followingB, 13_000)).toBeNull();
  });
});
