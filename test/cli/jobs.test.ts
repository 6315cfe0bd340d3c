import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { createStatusApp, listen, type RunningServer } from "../../src/status/index.ts";
import { runCli } from "../helpers/cli.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/** `capstan jobs` and the jobs part of `capstan status`, through the real executable against a status server on PostgreSQL. */

const database = useTestDatabase();
let server: RunningServer;

beforeAll(async () => {
  const store = new PgDesiredStore(database().pool);
  const cronJob = await store.createObject({
    apiVersion: "batch/v1",
    kind: "CronJob",
    namespace: "default",
    name: "report",
    spec: { schedule: "*/5 * * * *", suspend: false },
    status: {
      active: [{ name: "report-29627405" }],
      lastScheduleTime: "2026-05-01T12:05:00.000Z",
      lastSuccessfulTime: null,
      nextScheduleTime: "2026-05-01T12:10:00.000Z",
      lastRun: { job: "report-29627405", scheduledTime: "2026-05-01T12:05:00.000Z", outcome: "Running" },
      health: "Healthy",
    },
  });
  await store.createObject({
    apiVersion: "batch/v1",
    kind: "Job",
    namespace: "default",
    name: "report-29627405",
    ownerUid: cronJob.uid,
    spec: { completions: 1, parallelism: 1 },
    status: { active: 1, succeeded: 0, failed: 0, startTime: "2026-05-01T12:05:00.000Z", completionTime: null, conditions: [], health: "Progressing" },
  });
  await store.createObject({ apiVersion: "batch/v1", kind: "Job", namespace: "batch", name: "migrate", spec: { completions: 1 } });
  server = await listen(createStatusApp({ store, log: silentLogger, storeReachable: async () => true }), "127.0.0.1", 0);
});

afterAll(async () => {
  await server?.close();
});

describe("capstan jobs", () => {
  it("prints the CronJobs with last run, outcome and next run, then the Jobs", async () => {
    const result = await runCli(["jobs", "--server", server.url]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^CRONJOB\s+SCHEDULE\s+SUSPEND\s+ACTIVE\s+LAST RUN\s+OUTCOME\s+NEXT RUN\s+HEALTH$/);
    expect(lines[1]).toMatch(/^default\/report\s+\*\/5 \* \* \* \*\s+no\s+1\s+2026-05-01T12:05:00Z report-29627405\s+Running\s+2026-05-01T12:10:00Z\s+Healthy$/);
    expect(result.stdout).toMatch(/^default\/report-29627405\s+report\s+0\/1\s+1\s+0\s+pending\s+2026-05-01T12:05:00Z/m);
    expect(result.stdout).toMatch(/^batch\/migrate\s+-\s+0\/1/m);
  });

  it("-n filters by namespace and --json prints the API's lists", async () => {
    const result = await runCli(["jobs", "-n", "batch", "--json", "--server", server.url]);
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { jobs: { name: string }[]; cronJobs: unknown[] };
    expect(printed.jobs.map((job) => job.name)).toEqual(["migrate"]);
    expect(printed.cronJobs).toEqual([]);
  });

  it("capstan status shows the same tables after the nodes", async () => {
    const result = await runCli(["status", "--server", server.url]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/NODE\s+ADDRESS[\s\S]*CRONJOB\s+SCHEDULE[\s\S]*default\/report\s[\s\S]*JOB\s+CRONJOB/);
  });

  it("exits 1 naming the server when no control plane answers", async () => {
    const result = await runCli(["jobs", "--server", "http://127.0.0.1:9"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the control plane at http:\/\/127\.0\.0\.1:9/);
  });
});
