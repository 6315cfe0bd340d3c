import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logging.ts";
import { LostLeadershipError } from "../../src/errors.ts";
import { LeaderElector, TermRunner, tryAcquireOrRenew, type ElectionTiming, type StopReason } from "../../src/leader/index.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();
/** Ten times faster than the defaults, so that hand-overs take a fraction of a second. */
const timing: ElectionTiming = { leaseMs: 400, renewIntervalMs: 100, renewDeadlineMs: 300 };
let leaseCounter = 0;

interface Candidate {
  elector: LeaderElector;
  terms: Array<{ token: number; stoppedBy?: StopReason }>;
}

const electors: LeaderElector[] = [];
afterEach(async () => {
  await Promise.all(electors.splice(0).map((elector) => elector.stop()));
});

function candidate(lease: string, replica: string): Candidate {
  const terms: Candidate["terms"] = [];
  const elector = new LeaderElector({
    pool: database().pool,
    lease,
    replica,
    url: `http://${replica}`,
    timing,
    log: silentLogger,
    onStartedLeading: (token) => terms.push({ token }),
    onStoppedLeading: (token, reason) => {
      const term = terms.find((entry) => entry.token === token);
      if (term) term.stoppedBy = reason;
    },
  });
  electors.push(elector);
  return { elector, terms };
}

const leading = (candidates: Candidate[]) => candidates.filter((entry) => entry.elector.view().role === "leader");

describe("LeaderElector on PostgreSQL", () => {
  it("elects exactly one of three, and every one knows which", async () => {
    const lease = `elector-${++leaseCounter}`;
    const candidates = ["a", "b", "c"].map((replica) => candidate(lease, replica));
    for (const entry of candidates) entry.elector.start();
    await expect.poll(() => leading(candidates).length, { timeout: 5_000 }).toBe(1);
    const leader = leading(candidates)[0]!;
    await expect.poll(() => candidates.map((entry) => entry.elector.view().leader?.holder)).toEqual(Array(3).fill(leader.elector.view().replica));
    // Held steadily: several renewal intervals later, still the same single term.
    await new Promise((resolve) => setTimeout(resolve, 5 * timing.renewIntervalMs));
    expect(leading(candidates)).toEqual([leader]);
    expect(candidates.flatMap((entry) => entry.terms)).toEqual([{ token: 1 }]);
  });

  it("on stop, ends the leader's term and releases the lease, and a follower takes the next term", async () => {
    const lease = `elector-${++leaseCounter}`;
    const first = candidate(lease, "a");
    first.elector.start();
    await expect.poll(() => first.elector.view().role, { timeout: 5_000 }).toBe("leader");
    const second = candidate(lease, "b");
    second.elector.start();
    await expect.poll(() => second.elector.view().leader?.holder).toBe("a");
    await first.elector.stop();
    expect(first.terms).toEqual([{ token: 1, stoppedBy: "released" }]);
    await expect.poll(() => second.terms, { timeout: 2_000 }).toEqual([{ token: 2 }]);
  });

  it("steps down at once when a write of its term is fenced, then follows the replica that took over", async () => {
    const lease = `elector-${++leaseCounter}`;
    const only = candidate(lease, "a");
    only.elector.start();
    await expect.poll(() => only.elector.view().role, { timeout: 5_000 }).toBe("leader");
    // Another replica took the lease while this one was frozen (its renewal time pushed into the past).
    await database().pool.query("UPDATE leader_lease SET renewed_at = now() - interval '1 hour' WHERE name = $1", [lease]);
    const taken = await tryAcquireOrRenew(database().pool, { lease, replica: "z", url: "http://z", leaseMs: 60_000, heldToken: null });
    expect(taken).toMatchObject({ type: "mine", token: 2 });
    only.elector.fenced(new LostLeadershipError(lease, 1, 2, "z"));
    expect(only.terms).toEqual([{ token: 1, stoppedBy: "fenced" }]);
    expect(only.elector.view()).toMatchObject({ role: "follower", fencedWrites: 1 });
    await expect.poll(() => only.elector.view().leader?.holder).toBe("z");
  });
});

describe("TermRunner", () => {
  const log = silentLogger;

  it("stops a term that ended while it was starting, once it is up", async () => {
    const events: string[] = [];
    let finishStart!: () => void;
    const runner = new TermRunner(
      async (token) => {
        events.push(`starting ${token}`);
        await new Promise<void>((resolve) => (finishStart = resolve));
        events.push(`started ${token}`);
        return { stop: async () => void events.push(`stopped ${token}`) };
      },
      log,
      () => {},
    );
    runner.begin(1);
    await expect.poll(() => events).toEqual(["starting 1"]);
    const ended = runner.end(1);
    finishStart();
    await ended;
    expect(events).toEqual(["starting 1", "started 1", "stopped 1"]);
    expect(runner.current).toBeUndefined();
  });

  it("never starts a term that ended before its turn came", async () => {
    const started: number[] = [];
    const runner = new TermRunner(
      async (token) => {
        started.push(token);
        return { stop: async () => {} };
      },
      log,
      () => {},
    );
    runner.begin(1);
    await runner.end(1);
    runner.begin(2);
    runner.begin(3);
    await runner.end(2);
    await expect.poll(() => started).toEqual([3]);
    expect(runner.current).toBeDefined();
  });

  it("reports a term whose components failed to start, so the elector can give it up", async () => {
    const failed: number[] = [];
    const runner = new TermRunner(
      async () => {
        throw new Error("store unreachable");
      },
      log,
      (token) => failed.push(token),
    );
    runner.begin(4);
    await expect.poll(() => failed).toEqual([4]);
    expect(runner.current).toBeUndefined();
  });
});
