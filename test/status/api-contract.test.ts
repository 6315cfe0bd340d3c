import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, PgRolloutLog, type StoredObject } from "../../src/desired/index.ts";
import { GitSync, openGitSource, RollbackService } from "../../src/gitsync/index.ts";
import { silentLogger } from "../../src/logging.ts";
import {
  createStatusApp,
  eventListSchema,
  historyListSchema,
  nodeDetailSchema,
  nodeListSchema,
  revisionDetailSchema,
  revisionListSchema,
  statusSchema,
  workloadDetailSchema,
  workloadListSchema,
} from "../../src/status/index.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * The JSON API's contract on real PostgreSQL and a real repository: every
 * answer parses with the schema the CLI and the page use, a broken workload
 * is explained down to its pod's last error, unknown things are 404 with a
 * message, unknown parameters 400, and no endpoint shows a Secret's value.
 */

const database = useTestDatabase();
let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let app: ReturnType<typeof createStatusApp>;
const shas: { first: string; second: string; rejected: string } = { first: "", second: "", rejected: "" };

/** Planted in the Secret of each commit: no answer may contain them, plain or base64. */
const plantedSecrets = ["pl4nted-db-password-one", "pl4nted-db-password-two", "pl4nted-db-password-three", "pl4nted!not-base64"];

const node = "apiVersion: capstan.dev/v1\nkind: Node\nmetadata: { name: n1 }\nspec: { transport: local, address: 127.0.0.1 }\n";
const secret = (password: string) => `apiVersion: v1\nkind: Secret\nmetadata: { name: db }\nstringData:\n  password: "${password}"\n`;
const deployment = (version: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          command: [node, app.js]
          env:
            - name: DB_PASSWORD
              valueFrom: { secretKeyRef: { name: db, key: password } }
            - name: VERSION
              value: "${version}"
`;

beforeAll(async () => {
  const pool = database().pool;
  repo = await createRepo();
  cache = await tempDir("capstan-api-contract-");
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
  const store = new PgDesiredStore(pool);
  const rollouts = new PgRolloutLog(pool);
  const sync = new GitSync({ source, store, clock: systemClock, log: silentLogger, describe: { url: repo.dir, branch: "main", path: "" }, pollIntervalMs: 3_600_000 });
  const rollback = new RollbackService({ source, store, rollouts, clock: systemClock, log: silentLogger });
  app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, rollouts, rollback });

  await repo.writeAll({ "node.yaml": node, "secret.yaml": secret(plantedSecrets[0]!), "web.yaml": deployment("1") });
  shas.first = await repo.commit("web v1");
  await sync.syncOnce();
  await repo.writeAll({ "secret.yaml": secret(plantedSecrets[1]!), "web.yaml": deployment("2") });
  shas.second = await repo.commit("web v2");
  await sync.syncOnce();
  // Rejected: a typo, and a Secret whose values must not surface through the commit's errors either.
  await repo.writeAll({
    "bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bad }\nspek: {}\n",
    "secret2.yaml": `apiVersion: v1\nkind: Secret\nmetadata: { name: db2 }\nstringData: { password: "${plantedSecrets[2]}" }\ndata: { other: "${plantedSecrets[3]}" }\n`,
  });
  shas.rejected = await repo.commit("a typo");
  await sync.syncOnce();

  // What the controllers and the node link would have written: a ReplicaSet, its crash-looping pod, statuses and events.
  const web = (await store.getObject({ kind: "Deployment", namespace: "default", name: "web" }))!;
  const replicaSet = await store.createObject({ apiVersion: "apps/v1", kind: "ReplicaSet", namespace: "default", name: "web-5d8f", spec: { replicas: 1 }, ownerUid: web.uid });
  await store.createObject({
    apiVersion: "v1",
    kind: "Pod",
    namespace: "default",
    name: "web-5d8f-x1",
    spec: { ...((web.spec as { template: { spec: Record<string, unknown> } }).template.spec), nodeName: "n1" },
    ownerUid: replicaSet.uid,
  });
  const since = "2026-11-23T10:00:00.000Z";
  await store.updateStatuses([
    {
      key: { kind: "Pod", namespace: "default", name: "web-5d8f-x1" },
      status: {
        phase: "Running",
        ready: false,
        startTime: since,
        conditions: [{ type: "Ready", status: "False", lastTransitionTime: since }],
        containerStatuses: [
          {
            name: "web",
            runtime: "process",
            ready: false,
            started: false,
            restartCount: 3,
            ports: {},
            state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" } },
            lastState: { terminated: { exitCode: 1, reason: "Error", finishedAt: since } },
          },
        ],
      },
    },
    {
      key: { kind: "Deployment", namespace: "default", name: "web" },
      observedGeneration: web.generation,
      status: {
        health: "Degraded",
        conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet web-5d8f has timed out progressing" }],
      },
    },
    { key: { kind: "Node", namespace: "", name: "n1" }, status: { conditions: [{ type: "Ready", status: "True", reason: "AgentReady" }] } },
  ]);
  const at = (second: number) => new Date(Date.parse(since) + second * 1000);
  const event = (object: Pick<StoredObject, "kind" | "namespace" | "name">, reason: string, second: number) =>
    store.recordEvent({ kind: object.kind, namespace: object.namespace, name: object.name, type: "Warning", reason, message: `${reason} of ${object.name}`, source: "test", at: at(second) });
  await event(web, "ProgressDeadlineExceeded", 1);
  await event(replicaSet, "SuccessfulCreate", 2);
  await event({ kind: "Pod", namespace: "default", name: "web-5d8f-x1" }, "BackOff", 3);
  await event({ kind: "Node", namespace: "", name: "n1" }, "NodeReady", 4);
  await event({ kind: "Pod", namespace: "default", name: "someone-else" }, "Unrelated", 5);
  const progressing = await rollouts.progressing({ kind: "Deployment", namespace: "default", name: "web" });
  await rollouts.finish(progressing!.id, "failed", "ProgressDeadlineExceeded", at(6));
});

afterAll(async () => {
  await repo.cleanup();
  await cache.cleanup();
});

async function get<Schema extends z.ZodType>(path: string, schema: Schema): Promise<z.infer<Schema>> {
  const response = await app.request(path);
  expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
  return schema.parse(await response.json());
}

async function refusal(path: string, status: number): Promise<string> {
  const response = await app.request(path);
  expect(response.status, path).toBe(status);
  return ((await response.json()) as { error: string }).error;
}

describe("workloads", () => {
  it("lists the workloads section's lines, filtered by kind and namespace", async () => {
    const all = await get("/api/workloads", workloadListSchema);
    expect(all.items).toEqual([expect.objectContaining({ kind: "Deployment", namespace: "default", name: "web", rollout: "failed: ProgressDeadlineExceeded", health: "Degraded" })]);
    expect((await get("/api/workloads?kind=Deployment&namespace=default", workloadListSchema)).items).toHaveLength(1);
    expect((await get("/api/workloads?kind=StatefulSet", workloadListSchema)).items).toEqual([]);
    expect((await get("/api/workloads?namespace=elsewhere", workloadListSchema)).items).toEqual([]);
    expect(await refusal("/api/workloads?kind=Pod", 400)).toMatch(/^bad query parameters: kind: /);
  });

  it("explains a failed rollout down to its pod: node, restarts, readiness, last error, events and the rollouts of each commit", async () => {
    const detail = await get("/api/workloads/Deployment/default/web", workloadDetailSchema);
    expect(detail.workload).toMatchObject({ name: "web", rollout: "failed: ProgressDeadlineExceeded", health: "Degraded" });
    expect(detail.source).toEqual({ revisionSha: shas.second, file: "web.yaml", line: 1 });
    expect(detail.conditions).toEqual([
      { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet web-5d8f has timed out progressing", lastTransitionTime: null },
    ]);
    expect(detail.pods).toEqual([
      expect.objectContaining({
        name: "web-5d8f-x1",
        node: "n1",
        phase: "Running",
        ready: false,
        restarts: 3,
        reason: "CrashLoopBackOff",
        startTime: "2026-11-23T10:00:00.000Z",
        lastError: "web: CrashLoopBackOff: back-off 40s restarting failed container",
        containers: [
          {
            name: "web",
            init: false,
            ready: false,
            restarts: 3,
            state: "waiting",
            reason: "CrashLoopBackOff",
            exitCode: null,
            lastTermination: { reason: "Error", exitCode: 1, message: null, finishedAt: "2026-11-23T10:00:00.000Z" },
          },
        ],
      }),
    ]);
    expect(detail.events.map((event) => `${event.kind}/${event.name} ${event.reason}`)).toEqual([
      "Pod/web-5d8f-x1 BackOff",
      "ReplicaSet/web-5d8f SuccessfulCreate",
      "Deployment/web ProgressDeadlineExceeded",
    ]);
    expect(detail.rollouts.map((rollout) => [rollout.revisionSha, rollout.subject, rollout.outcome, rollout.reason])).toEqual([
      [shas.second, "web v2", "failed", "ProgressDeadlineExceeded"],
      [shas.first, "web v1", "superseded", `superseded by ${shas.second}`],
    ]);
  });

  it("answers 404 naming what is missing: an unknown workload, or a kind that is not a workload", async () => {
    expect(await refusal("/api/workloads/Deployment/default/nope", 404)).toBe("no Deployment default/nope");
    expect(await refusal("/api/workloads/Secret/default/db", 404)).toMatch(/^Secret is not a workload kind/);
  });
});

describe("nodes", () => {
  it("gives a node's line, conditions, pods and events", async () => {
    expect((await get("/api/nodes", nodeListSchema)).items.map((item) => [item.name, item.ready, item.allocated.pods])).toEqual([["n1", "True", 1]]);
    const detail = await get("/api/nodes/n1", nodeDetailSchema);
    expect(detail.node).toMatchObject({ name: "n1", transport: "local", ready: "True" });
    expect(detail.conditions).toEqual([{ type: "Ready", status: "True", reason: "AgentReady", message: null, lastTransitionTime: null }]);
    expect(detail.pods.map((pod) => [pod.name, pod.restarts, pod.lastError])).toEqual([["web-5d8f-x1", 3, "web: CrashLoopBackOff: back-off 40s restarting failed container"]]);
    expect(detail.events.map((event) => event.reason)).toEqual(["NodeReady"]);
    expect(await refusal("/api/nodes/nope", 404)).toBe("no node nope");
  });
});

describe("revisions", () => {
  it("gives a commit by a unique prefix: its changes (a Secret's values hidden), the rollouts it started and their outcomes, and whether it is live", async () => {
    const detail = await get(`/api/revisions/${shas.second.slice(0, 7).toUpperCase()}`, revisionDetailSchema);
    expect(detail).toMatchObject({ sha: shas.second, state: "applied", health: "failed", live: true, errors: [] });
    expect(detail.changes).toEqual([
      { kind: "Deployment", namespace: "default", name: "web", change: "changed", fields: [{ path: "spec.template.spec.containers[0].env[1].value", from: "1", to: "2" }] },
      { kind: "Secret", namespace: "default", name: "db", change: "changed", fields: [{ path: "spec.data.password" }] },
    ]);
    expect(detail.rollouts.map((rollout) => [rollout.name, rollout.outcome, rollout.reason])).toEqual([["web", "failed", "ProgressDeadlineExceeded"]]);
    const first = await get(`/api/revisions/${shas.first}`, revisionDetailSchema);
    expect(first).toMatchObject({ live: false, health: "superseded" });
  });

  it("gives a rejected commit's errors by file and line", async () => {
    const detail = await get(`/api/revisions/${shas.rejected}`, revisionDetailSchema);
    expect(detail).toMatchObject({ state: "rejected", live: false, changes: [], rollouts: [] });
    expect(detail.errors).toEqual([
      expect.objectContaining({ file: "bad.yaml", line: 4, severity: "error" }),
      expect.objectContaining({ file: "secret2.yaml", line: 5, path: "data.other", message: "must be a base64-encoded string" }),
    ]);
  });

  it("answers 404 for a commit capstan has not seen and 400 for what is not a sha", async () => {
    expect(await refusal("/api/revisions/0000000", 404)).toBe("no revision 0000000: capstan has seen no such commit");
    expect(await refusal("/api/revisions/abc", 400)).toMatch(/4 to 40 hex digits/);
    expect(await refusal("/api/revisions/HEAD", 400)).toMatch(/^bad sha "HEAD"/);
  });

  it("pages the revisions, newest first", async () => {
    const page = await get("/api/revisions?limit=2", revisionListSchema);
    expect(page.items.map((item) => item.sha)).toEqual([shas.rejected, shas.second]);
    const rest = await get(`/api/revisions?limit=2&before=${page.next}`, revisionListSchema);
    expect(rest).toMatchObject({ items: [{ sha: shas.first }], next: null });
  });
});

describe("events", () => {
  it("lists events newest first, filtered by the object", async () => {
    const all = await get("/api/events", eventListSchema);
    expect(all.next).toBeNull();
    expect(all.items.map((event) => event.reason)).toEqual(["Unrelated", "NodeReady", "BackOff", "SuccessfulCreate", "ProgressDeadlineExceeded"]);
    const pod = await get("/api/events?kind=Pod&namespace=default&name=web-5d8f-x1", eventListSchema);
    expect(pod.items.map((event) => event.reason)).toEqual(["BackOff"]);
    const clusterScoped = await get("/api/events?namespace=", eventListSchema);
    expect(clusterScoped.items.map((event) => event.reason)).toEqual(["NodeReady"]);
  });
});

describe("every endpoint", () => {
  const readEndpoints = () => [
    "/api/status",
    "/api/workloads",
    "/api/workloads/Deployment/default/web",
    "/api/nodes",
    "/api/nodes/n1",
    "/api/revisions",
    `/api/revisions/${shas.first}`,
    `/api/revisions/${shas.second}`,
    "/api/events",
    "/api/history",
    "/api/commits",
    "/api/pods",
    "/api/services",
    "/api/jobs",
    `/api/diff?from=${shas.first}&to=${shas.second}`,
    `/api/diff?from=${shas.first}`,
  ];

  it("never shows a Secret's value, plain or base64, although the store holds it", async () => {
    const stored = JSON.stringify(await new PgDesiredStore(database().pool).getObject({ kind: "Secret", namespace: "default", name: "db" }));
    expect(stored).toContain(Buffer.from(plantedSecrets[1]!).toString("base64"));
    const forms = plantedSecrets.flatMap((value) => [value, Buffer.from(value).toString("base64")]);
    for (const path of readEndpoints()) {
      const response = await app.request(path);
      expect(response.status, path).toBe(200);
      const body = await response.text();
      for (const form of forms) expect(body.includes(form), `${path} shows ${form}`).toBe(false);
    }
  });

  it("refuses an unknown query parameter with 400 naming it", async () => {
    for (const path of readEndpoints()) {
      const response = await app.request(`${path}${path.includes("?") ? "&" : "?"}colour=red`);
      expect(response.status, path).toBe(400);
      expect(((await response.json()) as { error: string }).error, path).toMatch(/^bad query parameters: colour: Unrecognized key/);
    }
  });

  it("keeps /api/status's shape and the history's", async () => {
    const status = await get("/api/status", statusSchema);
    expect(status.revision).toMatchObject({ sha: shas.second, subject: "web v2" });
    expect(status.sync).toMatchObject({ liveSha: shas.second, lastSeenSha: shas.rejected });
    expect((await get("/api/history", historyListSchema)).items).toHaveLength(3);
  });
});
