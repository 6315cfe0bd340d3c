/**
 * `capstan rollback` → the previous version fully ready: 10 replicas on three
 * SSH nodes (sshd on 127.0.0.2-4, the real agent, real processes), the
 * manifests in a local repository.
 *
 * Each run commits a bad version (its container exits at once, so it
 * crash-loops and is never ready) with `maxSurge: 25%, maxUnavailable: 50%`:
 * the bad rollout takes five of the good pods down before its 3 s progress
 * deadline fails it (the good version has 60 s: its first start includes
 * starting the agents over SSH). Then the real CLI, `capstan rollback`, writes the revert
 * commit; the clock stops when the Deployment's status says
 * replicas = updated = ready = available = 10 for the rollback's generation
 * and no pod of the bad commit is left in the store. The good template is
 * the one its old ReplicaSet still has, so the rollback reuses it (as
 * Kubernetes does) and starts only the five missing pods.
 *
 * Phases (medians): a dry-run API call just before (all the rollback's work
 * but the ref swap, without the CLI process), the CLI's own run (process
 * start through tsx, API call, commit and ref swap), the sync applying the
 * revert, and the pods ready.
 *
 * Prints one JSON line.
 */
import pg from "pg";
import { loadUpConfig } from "../src/config.ts";
import { startControlPlane, type ControlPlane } from "../src/controlplane.ts";
import { silentLogger } from "../src/logging.ts";
import { agentCommand, agentStateDir } from "../test/helpers/agent.ts";
import { runCli } from "../test/helpers/cli.ts";
import { createRepo, tempDir, type TestRepo } from "../test/helpers/git-fixture.ts";
import { requireSshd, startSshd, type SshdServer, sshNodeManifest } from "../test/helpers/sshd.ts";

/** Rollbacks are actions: they need the control plane's token. */
const token = "bench-rollback-token-0123";
const runs = Number(process.env.BENCH_RUNS ?? 5);
const replicas = 10;
const log = (message: string): void => void process.stderr.write(`[rollback] ${message}\n`);
const server = "require('http').createServer((q, s) => s.end(process.env.VERSION)).listen(process.env.PORT, '127.0.0.1')";

const servers: SshdServer[] = [];
const agents: { stateDir: string; cleanup(): Promise<void> }[] = [];
let repo: TestRepo | undefined;
let dataDir: { path: string; cleanup(): Promise<void> } | undefined;
let controlPlane: ControlPlane | undefined;
let db: pg.Pool | undefined;
try {
  requireSshd();
  servers.push(...(await Promise.all(["127.0.0.2", "127.0.0.3", "127.0.0.4"].map((address) => startSshd({ address })))));
  for (let index = 0; index < 3; index += 1) agents.push(await agentStateDir());
  repo = await createRepo();
  dataDir = await tempDir("capstan-bench-rollback-");
  await repo.writeAll({
    ...Object.fromEntries(servers.map((sshd, index) => [`nodes/node-${index}.yaml`, sshNodeManifest(`node-${index}`, sshd, { stateDir: agents[index]!.stateDir, agentCommand })])),
    "web.yaml": deployment("good", true),
  });
  await repo.commit("three nodes and web good");
  const env: Record<string, string> = { CAPSTAN_RESYNC_INTERVAL: "2", CAPSTAN_TOKEN: token, ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}) };
  controlPlane = await startControlPlane(loadUpConfig({ repo: repo.dir, dataDir: dataDir.path, port: "0", pollIntervalSeconds: "3600" }, env), silentLogger);
  db = new pg.Pool({ connectionString: controlPlane.databaseUrl, max: 2 });
  await waitFor(async () => (await state(db!)).done && (await revisionHealth(db!)) === "healthy", 120_000);

  const totals: number[] = [];
  const phases: Record<string, number>[] = [];
  for (let run = 1; run <= runs; run++) {
    await repo.write("web.yaml", deployment(`bad-${run}`, false));
    const bad = await repo.commit(`web bad ${run}`);
    controlPlane.sync.trigger();
    await waitFor(async () => (await revisionHealth(db!, bad)) === "failed", 60_000);

    // The API's share of the CLI's time: a dry run does all but the ref swap.
    const dryRunStarted = Date.now();
    const dryRun = await fetch(`${controlPlane.url}/api/rollback`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ dryRun: true }) });
    if (!dryRun.ok) throw new Error(`dry run failed: ${await dryRun.text()}`);
    const dryRunApiMs = Date.now() - dryRunStarted;

    const t0 = Date.now();
    const cli = await runCli(["rollback", "--as", "bench", "--server", controlPlane.url], { CAPSTAN_TOKEN: token });
    const cliDone = Date.now();
    if (cli.code !== 0) throw new Error(`capstan rollback failed: ${cli.stderr}`);
    const revert = await repo.revParse("main");
    let applied = 0;
    for (;;) {
      const now = Date.now();
      const current = await state(db, bad);
      if (!applied && current.liveSha === revert) applied = now;
      if (current.done && current.liveSha === revert && current.badPods === 0) break;
      if (now - t0 > 60_000) throw new Error(`run ${run}: not ready after 60 s: ${JSON.stringify(current)}`);
      await sleep(10);
    }
    const total = Date.now() - t0;
    totals.push(total);
    phases.push({ dryRunApiMs, cliMs: cliDone - t0, appliedMs: applied - t0, readyMs: total });
    log(`run ${run}: ${total} ms (cli ${cliDone - t0} ms, applied at ${applied - t0} ms)`);
    await waitFor(async () => (await revisionHealth(db!, revert)) === "healthy", 30_000).catch(async (error: unknown) => {
      const dump = await db!.query("SELECT r.revision_sha, r.outcome, r.reason, r.generation, o.generation AS g, o.observed_generation AS og, o.status FROM rollouts r JOIN objects o ON o.uid = r.object_uid ORDER BY r.id");
      log(JSON.stringify(dump.rows));
      throw error;
    });
  }

  const sorted = [...totals].sort((a, b) => a - b);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  process.stdout.write(
    `${JSON.stringify({
      bench: "rollback",
      runs,
      replicas,
      nodes: 3,
      medianMs: median(totals),
      maxMs: sorted.at(-1),
      minMs: sorted[0],
      runsMs: totals,
      phaseEndsMedianMs: Object.fromEntries(Object.keys(phases[0]!).map((phase) => [phase, median(phases.map((entry) => entry[phase]!))])),
    })}\n`,
  );
} finally {
  await db?.end().catch(() => undefined);
  await controlPlane?.stop();
  for (const agent of agents) await agent.cleanup();
  await Promise.all(servers.map((sshd) => sshd.stop()));
  await repo?.cleanup();
  await dataDir?.cleanup();
}

function deployment(version: string, good: boolean): string {
  const command = good ? `["${process.execPath}", "-e", "${server}"]` : `["${process.execPath}", "-e", "process.exit(1)"]`;
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  progressDeadlineSeconds: ${good ? 60 : 3}
  selector:
    matchLabels: { app: web }
  strategy:
    rollingUpdate: { maxSurge: "25%", maxUnavailable: "50%" }
  template:
    metadata:
      labels: { app: web }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          command: ${command}
          env: [{ name: VERSION, value: "${version}" }]
          ports: [{ name: http, containerPort: 8080 }]
`;
}

/** The Deployment complete for its generation, the live commit, and how many pods of `badSha` are left. */
async function state(pool: pg.Pool, badSha = ""): Promise<{ done: boolean; liveSha: string | null; badPods: number }> {
  const { rows } = await pool.query<{ status: Record<string, number>; generation: string; observed: string; live_sha: string | null; bad: string }>(
    `SELECT d.status, d.generation, d.observed_generation AS observed,
            (SELECT live_sha FROM sync_state WHERE id = 'default') AS live_sha,
            (SELECT count(*) FROM objects p WHERE p.kind = 'Pod' AND p.deleted_at IS NULL AND p.annotations->>'capstan.dev/commit' = $1) AS bad
     FROM objects d WHERE d.kind = 'Deployment' AND d.name = 'web' AND d.deleted_at IS NULL`,
    [badSha],
  );
  const row = rows[0];
  if (!row) return { done: false, liveSha: null, badPods: 0 };
  const status = row.status;
  const done =
    Number(row.observed) === Number(row.generation) &&
    status.replicas === replicas &&
    status.updatedReplicas === replicas &&
    status.readyReplicas === replicas &&
    status.availableReplicas === replicas;
  return { done, liveSha: row.live_sha, badPods: Number(row.bad) };
}

async function revisionHealth(pool: pg.Pool, sha?: string): Promise<string | null> {
  const { rows } = await pool.query<{ health: string | null }>(
    sha ? "SELECT health FROM revisions WHERE sha = $1" : "SELECT health FROM revisions WHERE state = 'applied' ORDER BY id DESC LIMIT 1",
    sha ? [sha] : [],
  );
  return rows[0]?.health ?? null;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
