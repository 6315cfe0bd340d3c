/**
 * Failover time of `capstan up --replicas-share` with the default lease
 * (4 s, renewed every 1 s): three control planes as real processes on one
 * PostgreSQL; the leader is SIGKILLed ten times, each time timed until
 * another replica's API says it leads, and a fresh replica is started in its
 * place. Goal: at most 5 s. Uses DATABASE_URL when set, otherwise an embedded
 * PostgreSQL in a temp dir. Prints one JSON line.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPool, migrate, startEmbeddedPostgres } from "../src/db/index.ts";
import { startReplicas, type ReplicaSet } from "../test/helpers/control-planes.ts";
import { createRepo } from "../test/helpers/git-fixture.ts";

const kills = Number(process.env.BENCH_FAILOVER_KILLS ?? 10);

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "capstan-bench-failover-"));
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let replicas: ReplicaSet | undefined;
  const repo = await createRepo(join(root, "repo"));
  try {
    let url = process.env.DATABASE_URL;
    if (!url) {
      embedded = await startEmbeddedPostgres({ dataDir: join(root, "pg"), database: "postgres" });
      url = embedded.url;
    }
    const pool = createPool(url, { max: 1 });
    await migrate(pool);
    await pool.query("DELETE FROM leader_lease");
    await pool.end();
    await repo.write("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: one\n");
    await repo.commit("first");

    replicas = await startReplicas(3, { databaseUrl: url, repo: repo.dir, env: { CAPSTAN_LOG_LEVEL: "warn" } });
    const failoverMs: number[] = [];
    for (let kill = 0; kill < kills; kill++) {
      const leader = await replicas.agreedLeader(20_000);
      // Kill at a random point of the renewal cycle, as a crash would.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 1_000));
      const killedAt = Date.now();
      await leader.cli.stop("SIGKILL");
      await replicas.firstLeader(20_000);
      failoverMs.push(Date.now() - killedAt);
      await replicas.add();
    }
    const sorted = [...failoverMs].sort((a, b) => a - b);
    process.stdout.write(
      `${JSON.stringify({
        bench: "failover",
        replicas: 3,
        kills,
        leaseMs: 4_000,
        renewIntervalMs: 1_000,
        failoverP50Ms: sorted[Math.floor(sorted.length / 2)],
        failoverMaxMs: sorted.at(-1),
        failoverMs,
        goals: { failoverMaxMs: 5_000 },
      })}\n`,
    );
  } finally {
    await replicas?.stopAll();
    await embedded?.stop();
    await repo.cleanup();
    await rm(root, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
