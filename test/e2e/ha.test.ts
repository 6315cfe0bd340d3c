import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { createRepo, type TestRepo } from "../helpers/git-fixture.ts";
import { runCli } from "../helpers/cli.ts";
import { startReplicas, type Replica, type ReplicaSet } from "../helpers/control-planes.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();
/** Three real processes, each failover a few seconds: far beyond the default 30 s per test on two shared cores. */
const timeoutMs = 120_000;
const configMap = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

let replicas: ReplicaSet | undefined;
let repo: TestRepo | undefined;
afterEach(async () => {
  await replicas?.stopAll();
  await repo?.cleanup();
  replicas = undefined;
  repo = undefined;
});

async function threeReplicas(options: { pollSeconds?: string; env?: Record<string, string> } = {}): Promise<ReplicaSet> {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, leader_lease RESTART IDENTITY CASCADE");
  repo = await createRepo();
  await repo.write("app.yaml", configMap("app", "1"));
  await repo.commit("first");
  // A short poll by default: the leader writes (records a fetch) five times a second, so a resumed old leader has writes in flight.
  const args = ["--poll-interval", options.pollSeconds ?? "0.2"];
  replicas = await startReplicas(3, { databaseUrl: database().url, repo: repo.dir, args, env: options.env });
  return replicas;
}

/** The live revision as one replica's API reports it. */
async function liveSha(replica: Replica): Promise<string | null> {
  const response = await fetch(`${replica.url}/api/status`);
  const body = (await response.json()) as { revision: { sha: string } | null };
  return body.revision?.sha ?? null;
}

async function killed(replica: Replica, signal: NodeJS.Signals): Promise<number> {
  const at = Date.now();
  await replica.cli.stop(signal);
  return at;
}

describe("several control planes sharing one PostgreSQL", () => {
  it("elect one leader; each SIGKILLed leader is replaced within 5 s, and the new leader syncs", async () => {
    const set = await threeReplicas();
    let leader = await set.agreedLeader();
    const leaderView = (await leader.leadership())!;
    for (const replica of set.replicas) {
      expect((await fetch(`${replica.url}/readyz`)).status).toBe(200);
      const status = await runCli(["status", "--server", replica.url]);
      expect(status.stdout).toContain(`leader: ${leaderView.replica} (${leader.url}), term ${leaderView.leader!.token}; asked: ${replica === leader ? "leader" : "follower"}`);
      await expect.poll(() => liveSha(replica), { timeout: 10_000 }).toMatch(/^[0-9a-f]{40}$/);
    }

    for (let round = 1; round <= 2; round++) {
      const killedAt = await killed(leader, "SIGKILL");
      const first = await set.firstLeader(10_000);
      const failoverMs = Date.now() - killedAt;
      const next = await set.agreedLeader(10_000);
      expect(next).toBe(first);
      expect(next).not.toBe(leader);
      expect(failoverMs).toBeLessThan(5_000);
      process.stderr.write(`failover after SIGKILL, round ${round}: ${failoverMs} ms\n`);
      leader = next;

      // The new leader runs the sync: a new commit becomes the live revision on every replica left.
      await repo!.write("app.yaml", configMap("app", `round-${round}`));
      const sha = await repo!.commit(`round ${round}`);
      for (const replica of set.alive()) await expect.poll(() => liveSha(replica), { timeout: 10_000 }).toBe(sha);
    }
    expect(set.alive()).toEqual([leader]);
  }, timeoutMs);

  it("hands over at once when the leader is stopped with SIGTERM: it releases the lease", async () => {
    const set = await threeReplicas();
    const leader = await set.agreedLeader();
    const stoppedAt = Date.now();
    expect(await leader.cli.stop("SIGTERM")).toBe(0);
    await set.firstLeader(10_000);
    // Far sooner than the 4 s lease would take to run out.
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    expect(leader.cli.output()).toMatch(/lease released/);
  }, timeoutMs);

  it("refuses the writes of a leader paused past its lease once it resumes, and it steps down", async () => {
    const set = await threeReplicas();
    // Whether the resumed leader still has a write under way before it hears it lost depends on where
    // SIGSTOP caught it (mid-pass of the 0.2 s sync loop, or asleep), so the pause is repeated, with
    // whoever leads, until one was refused: each round must still end with the old leader following.
    let refused = 0;
    for (let round = 1; round <= 4 && refused === 0; round++) {
      const old = await set.agreedLeader();
      const oldView = (await old.leadership())!;
      old.cli.child.kill("SIGSTOP");
      const next = await set.agreedLeader(10_000, set.replicas.filter((replica) => replica !== old));
      const nextView = (await next.leadership())!;
      expect(nextView.leader!.token).toBeGreaterThan(oldView.leader!.token!);

      old.cli.child.kill("SIGCONT");
      await expect
        .poll(() => old.leadership(), { timeout: 10_000 })
        .toMatchObject({ role: "follower", leader: { replica: nextView.replica, token: nextView.leader!.token } });
      await expect.poll(() => old.cli.output(), { timeout: 10_000 }).toMatch(new RegExp(`"term":${oldView.leader!.token},"msg":"leader components stopped"`));
      // Still exactly one leader: the one that took over.
      expect(await set.agreedLeader()).toBe(next);
      refused = (await old.leadership())!.fencedWrites;
      if (refused > 0) expect(old.cli.output()).toMatch(/write refused: another replica holds the lease/);
      process.stderr.write(`pause round ${round}: ${refused} write(s) of the resumed leader refused\n`);
    }
    expect(refused).toBeGreaterThan(0);
  }, timeoutMs);

  it("passes a push webhook that reached a follower on to the leader, which fetches at once", async () => {
    const secret = "webhook-secret-for-ha";
    const set = await threeReplicas({ pollSeconds: "3600", env: { CAPSTAN_WEBHOOK_SECRET: secret } });
    const leader = await set.agreedLeader();
    const follower = set.replicas.find((replica) => replica !== leader)!;
    await expect.poll(() => liveSha(follower), { timeout: 10_000 }).toMatch(/^[0-9a-f]{40}$/);
    await repo!.write("app.yaml", configMap("app", "pushed"));
    const sha = await repo!.commit("pushed");
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
    const response = await fetch(`${follower.url}/hooks/git`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    });
    expect(response.status).toBe(202);
    // Polling is hourly: only the webhook can have brought the commit in.
    await expect.poll(() => liveSha(follower), { timeout: 10_000 }).toBe(sha);
  }, timeoutMs);
});
