import { describe, expect, it } from "vitest";
import { listen } from "../../src/db/index.ts";
import { leaderChannel, releaseLease, tryAcquireOrRenew, type LeaseCandidate } from "../../src/leader/index.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();
let leaseCounter = 0;
/** Each case its own lease row, so that cases cannot see each other's terms. */
const freshLease = () => `lease-${++leaseCounter}`;

const candidate = (lease: string, replica: string, heldToken: number | null = null, leaseMs = 4_000): LeaseCandidate => ({
  lease,
  replica,
  url: `http://${replica}.example:8080`,
  leaseMs,
  heldToken,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the lease on PostgreSQL", () => {
  it("of two replicas attempting at once, exactly one acquires, with token 1; the other sees it", async () => {
    const lease = freshLease();
    const outcomes = await Promise.all([
      tryAcquireOrRenew(database().pool, candidate(lease, "a")),
      tryAcquireOrRenew(database().pool, candidate(lease, "b")),
    ]);
    const winners = outcomes.filter((outcome) => outcome.type === "mine");
    expect(winners).toEqual([{ type: "mine", token: 1, url: expect.any(String) }]);
    const loser = outcomes.find((outcome) => outcome.type === "theirs");
    expect(loser).toMatchObject({ type: "theirs", token: 1 });
    if (loser?.type !== "theirs") throw new Error("unreachable");
    expect(["a", "b"]).toContain(loser.holder);
    expect(loser.expiresInMs).toBeGreaterThan(3_000);
    expect(loser.expiresInMs).toBeLessThanOrEqual(4_000);
  });

  it("of three replicas racing for a fresh lease, 200 times over, exactly one wins each time and none sees an error", async () => {
    for (let round = 0; round < 200; round += 1) {
      const lease = freshLease();
      const outcomes = await Promise.all(["a", "b", "c"].map((replica) => tryAcquireOrRenew(database().pool, candidate(lease, replica))));
      expect(outcomes.filter((outcome) => outcome.type === "mine")).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.type === "theirs")).toHaveLength(2);
    }
  });

  it("renews for its holder without changing the token, and keeps others out while it is live", async () => {
    const lease = freshLease();
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "a"))).toMatchObject({ type: "mine", token: 1 });
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "a", 1))).toMatchObject({ type: "mine", token: 1 });
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "b"))).toMatchObject({ type: "theirs", holder: "a", token: 1, url: "http://a.example:8080" });
  });

  it("hands over when the holder stops renewing and the lease runs out, bumping the token", async () => {
    const lease = freshLease();
    await tryAcquireOrRenew(database().pool, candidate(lease, "a", null, 300));
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "b", null, 300))).toMatchObject({ type: "theirs", holder: "a" });
    await sleep(350);
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "b", null, 300))).toMatchObject({ type: "mine", token: 2 });
    // The old holder's renewal now finds another term.
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "a", 1, 300))).toMatchObject({ type: "theirs", holder: "b", token: 2 });
  });

  it("hands over at once on release, bumping the token, and announces the release", async () => {
    const lease = freshLease();
    const announced: string[] = [];
    const listener = await listen(database().url, [leaderChannel], (_channel, payload) => announced.push(payload));
    try {
      await tryAcquireOrRenew(database().pool, candidate(lease, "a"));
      expect(await releaseLease(database().pool, lease, "a", 1)).toBe(true);
      expect(await tryAcquireOrRenew(database().pool, candidate(lease, "b"))).toMatchObject({ type: "mine", token: 2 });
      await expect.poll(() => announced.map((payload) => JSON.parse(payload) as { holder: string | null })).toEqual([
        { name: lease, holder: null, token: 1 },
        { name: lease, holder: "b", token: 2 },
      ]);
    } finally {
      await listener.close();
    }
  });

  it("ignores a release of a term that is over", async () => {
    const lease = freshLease();
    await tryAcquireOrRenew(database().pool, candidate(lease, "a"));
    await releaseLease(database().pool, lease, "a", 1);
    await tryAcquireOrRenew(database().pool, candidate(lease, "b"));
    expect(await releaseLease(database().pool, lease, "a", 1)).toBe(false);
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "c"))).toMatchObject({ type: "theirs", holder: "b", token: 2 });
  });

  it("bumps the token on every acquisition, including a holder taking back a lease it lost track of", async () => {
    const lease = freshLease();
    const tokens: number[] = [];
    for (const replica of ["a", "b", "a", "c"]) {
      const outcome = await tryAcquireOrRenew(database().pool, candidate(lease, replica));
      if (outcome.type !== "mine") throw new Error(`${replica} did not acquire: ${JSON.stringify(outcome)}`);
      tokens.push(outcome.token);
      await releaseLease(database().pool, lease, replica, outcome.token);
    }
    // "c" holds term 4; after a step-down it no longer knows its token and takes the lease anew.
    expect(await tryAcquireOrRenew(database().pool, candidate(lease, "c", null))).toMatchObject({ type: "mine", token: 5 });
    expect(tokens).toEqual([1, 2, 3, 4]);
  });
});
