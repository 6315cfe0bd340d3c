/**
 * What the leader's fence costs on the store's hot path: the same writes
 * through a PgDesiredStore without a guard (a lone control plane) and with
 * the lease's fence (`--replicas-share`), which turns each single-statement
 * write into BEGIN, the FOR KEY SHARE check, the write and COMMIT. Measured
 * one writer at a time (latency) and with 8 at once (the controllers run 4
 * reconciles at a time, plus node links), where the shared row lock could
 * contend. Uses DATABASE_URL when set, otherwise an embedded PostgreSQL in a
 * temp dir. Prints one JSON line.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createPool, migrate, startEmbeddedPostgres } from "../src/db/index.ts";
import { PgDesiredStore, type DesiredStore } from "../src/desired/index.ts";
import { controlPlaneLease, LeaseFence, tryAcquireOrRenew } from "../src/leader/index.ts";

const writesPerRun = Number(process.env.BENCH_FENCE_WRITES ?? 2_000);
const concurrency = 8;

async function main(): Promise<void> {
  let root: string | undefined;
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    root = await mkdtemp(join(tmpdir(), "capstan-bench-fence-"));
    embedded = await startEmbeddedPostgres({ dataDir: join(root, "pg"), database: "postgres" });
    url = embedded.url;
  }
  const pool = createPool(url, { max: concurrency + 2 });
  try {
    await migrate(pool);
    await pool.query("TRUNCATE objects, events, leader_lease RESTART IDENTITY CASCADE");
    const acquired = await tryAcquireOrRenew(pool, { lease: controlPlaneLease, replica: "bench", url: null, leaseMs: 600_000, heldToken: null });
    if (acquired.type !== "mine") throw new Error("could not acquire the lease");
    const plain = new PgDesiredStore(pool);
    const fenced = new PgDesiredStore(pool, { writeGuard: new LeaseFence(controlPlaneLease, acquired.token, () => {}) });
    // The transaction alone, without the lease read: splits the fence's cost into round trips and the row lock.
    const wrapped = new PgDesiredStore(pool, { writeGuard: { check: async () => {} } });
    const pods = await seedPods(plain, concurrency);

    // Warm both paths (connections, plans), then alternate runs so drift hits both alike.
    await statusWrites(plain, pods, 200, 1);
    await statusWrites(fenced, pods, 200, 1);
    const results: Record<string, number[]> = { plain1: [], wrapped1: [], fenced1: [], plain8: [], wrapped8: [], fenced8: [] };
    for (let round = 0; round < 3; round++) {
      results.plain1!.push(await statusWrites(plain, pods, writesPerRun, 1));
      results.wrapped1!.push(await statusWrites(wrapped, pods, writesPerRun, 1));
      results.fenced1!.push(await statusWrites(fenced, pods, writesPerRun, 1));
      results.plain8!.push(await statusWrites(plain, pods, writesPerRun, concurrency));
      results.wrapped8!.push(await statusWrites(wrapped, pods, writesPerRun, concurrency));
      results.fenced8!.push(await statusWrites(fenced, pods, writesPerRun, concurrency));
    }
    const best = (runs: number[]) => Math.min(...runs);
    const plainUs = best(results.plain1!);
    const fencedUs = best(results.fenced1!);
    const wrappedUs = best(results.wrapped1!);
    const wrapped8Per = best(results.wrapped8!);
    const plain8Per = best(results.plain8!);
    const fenced8Per = best(results.fenced8!);
    process.stdout.write(
      `${JSON.stringify({
        bench: "fence",
        writes: writesPerRun,
        statusWriteUs: {
          unfenced: round1(plainUs),
          transactionOnly: round1(wrappedUs),
          fenced: round1(fencedUs),
          overheadPct: Math.round((fencedUs / plainUs - 1) * 100),
        },
        statusWritesPerSecondAt8: {
          unfenced: Math.round(1e6 / plain8Per),
          transactionOnly: Math.round(1e6 / wrapped8Per),
          fenced: Math.round(1e6 / fenced8Per),
          overheadPct: Math.round((fenced8Per / plain8Per - 1) * 100),
        },
      })}\n`,
    );
  } finally {
    await pool.end();
    await embedded?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }
}

async function seedPods(store: DesiredStore, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = `pod-${index}`;
    await store.createObject({ apiVersion: "v1", kind: "Pod", namespace: "default", name, spec: { containers: [] } });
    names.push(name);
  }
  return names;
}

/**
 * `writes` status updates (each changes the row, as a heartbeat does) from
 * `writers` loops at once, each on its own pod; returns µs per write.
 */
async function statusWrites(store: DesiredStore, pods: string[], writes: number, writers: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const key = { kind: "Pod", namespace: "default", name: pods[writer % pods.length]! };
      while (next < writes) {
        const sequence = next++;
        await store.updateStatuses([{ key, status: { sequence } }]);
      }
    }),
  );
  return ((performance.now() - started) * 1000) / writes;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

void (main as () => Promise<void>)().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
