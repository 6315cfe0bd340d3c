import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PodStatus } from "../../src/nodes/protocol.ts";
import { eventually } from "../helpers/eventually.ts";
import { startCluster, type Cluster } from "../helpers/e2e-cluster.ts";
import { parseExposition, valueOf } from "../helpers/prometheus-text.ts";
import { openAgentView, type AgentView } from "./agent-view.ts";
import { startOwnPostgres, type OwnPostgres } from "../helpers/own-postgres.ts";
import { webDeployment } from "../helpers/web-deployment.ts";

/**
 * The control plane's PostgreSQL stopped and started again under it (a
 * database restart, a fail-over): its own embedded server on a temp dir and
 * a port of its own, never the shared test database. capstan must reconnect
 * by itself, apply every commit exactly once, finish what it was rolling out,
 * and say that the store is gone while it is gone.
 */

const replicas = 4;
let postgres: OwnPostgres | undefined;
let cluster: Cluster | undefined;
let views: AgentView[] = [];

const stopPostgres = () => postgres!.stop();
const startPostgres = () => postgres!.start();
const query = <T extends pg.QueryResultRow>(sql: string, params?: unknown[]) => postgres!.query<T>(sql, params);

const deployment = (version: string): string => webDeployment({ version, replicas, rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } });

function configMaps(count: number, value: string): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: count }, (_, index) => [`config/cm-${index}.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${index}\ndata:\n  value: "${value}"\n`]),
  );
}

async function agentPods(): Promise<PodStatus[]> {
  return (await Promise.all(views.map((view) => view.statuses()))).flat().filter((pod) => pod.name.startsWith("web-"));
}

/** What the nodes run and what the store says: every replica on `sha`, ready, and the Deployment's status agrees. */
async function rolledOutTo(sha: string): Promise<void> {
  expect((await agentPods()).map((pod) => ({ commit: pod.commitSha, ready: pod.ready }))).toEqual(Array(replicas).fill({ commit: sha, ready: true }));
  const web = await cluster!.store.getObject({ kind: "Deployment", namespace: "default", name: "web" });
  expect(web?.status).toMatchObject({ replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${cluster!.controlPlane.url}${path}`, { signal: AbortSignal.timeout(15_000) });
  return { status: response.status, body: await response.text() };
}

beforeAll(async () => {
  postgres = await startOwnPostgres();
  cluster = await startCluster(postgres.url, {
    nodes: 2,
    name: "pg-restart",
    // No periodic resync to fall back on: after the restart only the LISTEN connection, re-established, and
    // its relist can wake the controllers; a rollout that completes proves both.
    env: { CAPSTAN_RESYNC_INTERVAL: "300" },
    beforeStart: async (starting) => {
      await starting.repo.writeAll({ "web.yaml": deployment("v1") });
      await starting.repo.commit("web v1");
    },
  });
  views = await Promise.all(cluster.agents.map((agent) => openAgentView(agent.stateDir)));
  const head = (await cluster.repo.git("rev-parse", "HEAD")).trim();
  await eventually(() => rolledOutTo(head), 90_000);
}, 120_000);

afterAll(async () => {
  views.forEach((view) => view.close());
  await cluster?.stop().catch(() => undefined);
  await postgres?.remove();
}, 60_000);

describe("PostgreSQL restarted under a running control plane", () => {
  it("applies a commit exactly once when Postgres stops while the commit is being applied", async () => {
    // A large commit: 400 ConfigMaps and a new Deployment template, applied in one transaction.
    const sha = await cluster!.commit({ ...configMaps(400, "a"), "web.yaml": deployment("v2") }, "400 ConfigMaps and web v2");
    // Stop it the moment the control plane is seen writing objects: mid-transaction.
    const watcher = new pg.Client({ connectionString: postgres!.url });
    await watcher.connect();
    let seen = false;
    try {
      const deadline = Date.now() + 20_000;
      while (!seen && Date.now() < deadline) {
        const rows = await watcher.query(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = 'capstan' AND xact_start IS NOT NULL AND query ILIKE '%objects%' AND pid <> pg_backend_pid()",
        );
        seen = rows.rowCount! > 0;
      }
    } finally {
      await watcher.end();
    }
    const stoppedAt = await stopPostgres();
    expect(seen, "the control plane was seen writing the commit before Postgres stopped").toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const startedAt = await startPostgres();
    process.stderr.write(`mid-sync: Postgres down for ${startedAt - stoppedAt} ms\n`);

    await eventually(async () => {
      const rows = await query<{ state: string }>("SELECT state FROM revisions WHERE sha = $1", [sha]);
      expect(rows).toEqual([{ state: "applied" }]);
    }, 60_000);
    const appliedMs = Date.now() - startedAt;
    await eventually(() => rolledOutTo(sha), 60_000);
    process.stderr.write(`mid-sync: commit applied ${appliedMs} ms after Postgres was back, rolled out after ${Date.now() - startedAt} ms\n`);

    const [counted] = await query<{ count: string }>("SELECT count(*) FROM objects WHERE kind = 'ConfigMap' AND namespace = 'default' AND name LIKE 'cm-%'");
    expect(Number(counted?.count)).toBe(400);
    const rollouts = await query<{ outcome: string }>("SELECT outcome FROM rollouts WHERE revision_sha = $1 AND kind = 'Deployment' AND name = 'web'", [sha]);
    expect(rollouts).toEqual([{ outcome: "complete" }]);
    // Every revision row names a distinct commit; none was recorded twice or left pending.
    const states = await query<{ state: string; count: string }>("SELECT state, count(*) FROM revisions GROUP BY state ORDER BY state");
    expect(states.find((row) => row.state === "pending")).toBeUndefined();
  }, 180_000);

  it("applies a commit pushed just before Postgres stopped, once, after it is back", async () => {
    const sha = await cluster!.commit({ ...configMaps(400, "b") }, "400 ConfigMaps changed");
    const stoppedAt = await stopPostgres();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const startedAt = await startPostgres();
    process.stderr.write(`after a push: Postgres down for ${startedAt - stoppedAt} ms\n`);
    await eventually(async () => expect(await query("SELECT state FROM revisions WHERE sha = $1", [sha])).toEqual([{ state: "applied" }]), 60_000);
    process.stderr.write(`after a push: commit applied ${Date.now() - startedAt} ms after Postgres was back\n`);
    const values = await query<{ value: string; count: string }>(
      "SELECT spec->'data'->>'value' AS value, count(*) FROM objects WHERE kind = 'ConfigMap' AND name LIKE 'cm-%' GROUP BY 1",
    );
    expect(values).toEqual([{ value: "b", count: "400" }]);
  }, 120_000);

  it("finishes a rollout Postgres stopped half-way; /readyz says the store is gone while it is, /healthz stays up", async () => {
    const sha = await cluster!.commit({ "web.yaml": deployment("v3") }, "web v3");
    // Half-way: the nodes run some pods of the new template, not yet all of them ready.
    await eventually(async () => {
      const pods = await agentPods();
      expect(pods.some((pod) => pod.commitSha === sha)).toBe(true);
      expect(pods.filter((pod) => pod.commitSha === sha && pod.ready).length).toBeLessThan(replicas);
    }, 60_000);
    const stoppedAt = await stopPostgres();

    // While it is down, ~4 s: what probes, scrapers and the nodes see.
    const outage: Array<{ readyz: number; readyzBody: string; healthz: number; storeUp: number | undefined; ready: number }> = [];
    while (Date.now() - stoppedAt < 4_000) {
      const [readyz, healthz, metrics, pods] = await Promise.all([get("/readyz"), get("/healthz"), get("/metrics"), agentPods()]);
      outage.push({
        readyz: readyz.status,
        readyzBody: readyz.body,
        healthz: healthz.status,
        storeUp: valueOf(parseExposition(metrics.body), "capstan_store_up"),
        ready: pods.filter((pod) => pod.ready).length,
      });
    }
    expect(outage.length).toBeGreaterThan(0);
    for (const seen of outage) {
      expect(seen).toMatchObject({ readyz: 503, healthz: 200, storeUp: 0 });
      expect(seen.readyzBody).toMatch(/^store unreachable: /);
      // The agents keep the pods running and probing without a store behind the control plane.
      expect(seen.ready).toBeGreaterThanOrEqual(replicas - 1);
    }

    const startedAt = await startPostgres();
    await eventually(async () => expect(await get("/readyz")).toEqual({ status: 200, body: "ok" }), 30_000);
    const readyMs = Date.now() - startedAt;
    expect(valueOf(parseExposition((await get("/metrics")).body), "capstan_store_up")).toBe(1);
    await eventually(() => rolledOutTo(sha), 90_000);
    const rolledOutMs = Date.now() - startedAt;
    process.stderr.write(
      `mid-rollout: Postgres down ${startedAt - stoppedAt} ms (${outage.length} probe rounds, all 503/200/store_up 0); /readyz ok ${readyMs} ms after it was back, rollout complete after ${rolledOutMs} ms\n`,
    );
    const rollouts = await query("SELECT outcome FROM rollouts WHERE revision_sha = $1 AND kind = 'Deployment' AND name = 'web'", [sha]);
    expect(rollouts).toEqual([{ outcome: "complete" }]);
    expect(await query("SELECT state FROM revisions WHERE sha = $1", [sha])).toEqual([{ state: "applied" }]);
  }, 180_000);
});
