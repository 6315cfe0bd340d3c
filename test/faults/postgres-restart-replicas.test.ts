import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReplicas, type Replica, type ReplicaSet } from "../helpers/control-planes.ts";
import { createRepo, type TestRepo } from "../helpers/git-fixture.ts";
import { startOwnPostgres, type OwnPostgres } from "../helpers/own-postgres.ts";

/**
 * Two `capstan up --replicas-share` processes on a PostgreSQL of the test's
 * own, stopped for longer than the lease: the leader cannot renew and steps
 * down, nobody can take over; when the database returns, exactly one leads
 * again and applies the next commit, once.
 */

const outageMs = 6_000;
let postgres: OwnPostgres | undefined;
let repo: TestRepo | undefined;
let replicas: ReplicaSet | undefined;

const configMap = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: "${value}"\n`;

async function readyz(replica: Replica): Promise<number> {
  return fetch(`${replica.url}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
    (response) => response.status,
    () => 0,
  );
}

beforeAll(async () => {
  postgres = await startOwnPostgres();
  repo = await createRepo();
  await repo.write("app.yaml", configMap("1"));
  await repo.commit("first");
  replicas = await startReplicas(2, { databaseUrl: postgres.url, repo: repo.dir, args: ["--poll-interval", "0.5"] });
}, 120_000);

afterAll(async () => {
  await replicas?.stopAll();
  await repo?.cleanup();
  await postgres?.remove();
}, 60_000);

describe("PostgreSQL restarted under two control planes sharing it", () => {
  it("has no leader while it is down past the lease, one again once it is back, and applies the next commit once", async () => {
    const before = await replicas!.agreedLeader(30_000);
    const stoppedAt = await postgres!.stop();
    // Committed during the outage: the sync of whichever replica leads next must pick it up.
    await repo!.write("app.yaml", configMap("2"));
    const sha = await repo!.commit("second, during the outage");
    while (Date.now() - stoppedAt < outageMs) {
      for (const replica of replicas!.replicas) expect(await readyz(replica)).toBe(503);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // It could not renew within its deadline (3 s): it stopped acting rather than lead on a lease it may have lost.
    expect(before.cli.output()).toMatch(/"msg":"leader components stopped"/);
    const startedAt = await postgres!.start();
    const leader = await replicas!.agreedLeader(30_000);
    const leaderMs = Date.now() - startedAt;
    await expect.poll(() => postgres!.query("SELECT state FROM revisions WHERE sha = $1", [sha]), { timeout: 30_000, interval: 100 }).toEqual([{ state: "applied" }]);
    const appliedMs = Date.now() - startedAt;
    for (const replica of replicas!.replicas) await expect.poll(() => readyz(replica), { timeout: 15_000 }).toBe(200);
    process.stderr.write(
      `replicas: Postgres down ${startedAt - stoppedAt} ms; one leader again ${leaderMs} ms after it was back (${leader === before ? "the same" : "the other"} replica), commit applied after ${appliedMs} ms\n`,
    );
    expect(replicas!.alive()).toHaveLength(2);
    const values = await postgres!.query<{ value: string }>("SELECT spec->'data'->>'value' AS value FROM objects WHERE kind = 'ConfigMap' AND name = 'app'");
    expect(values).toEqual([{ value: "2" }]);
  }, 120_000);
});
