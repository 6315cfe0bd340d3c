import { beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore, validateFiles, type CommitInfo, type ObjectKey, type StoredObject } from "../../src/desired/index.ts";
import { jobReconciler } from "../../src/reconcilers/index.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { reconcileContext } from "../helpers/reconcile-context.ts";

/**
 * The Job reconciler on real PostgreSQL: a Job applied as gitsync applies it,
 * pod phases written as the node link writes the agents' reports, the
 * reconciler driven by hand.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
let clock: ManualClock;
const key: ObjectKey = { kind: "Job", namespace: "default", name: "batch" };

function context(): ReconcileContext {
  return reconcileContext(store, clock, "job-controller", { eventsAt: "clock" });
}

async function commit(spec: string): Promise<void> {
  const content = `apiVersion: batch/v1
kind: Job
metadata: { name: batch, namespace: default }
spec:
${spec}
  template:
    spec:
      restartPolicy: Never
      containers: [{ name: work, command: [/bin/true] }]
`;
  const { objects, problems } = validateFiles([{ path: "job.yaml", content }]);
  expect(problems).toEqual([]);
  const info: CommitInfo = { sha: "sha-1", parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: clock.now() };
  await store.applyRevision(info, objects, []);
}

async function pods(): Promise<StoredObject[]> {
  const job = await store.getObject(key);
  return job ? store.listObjects({ kind: "Pod", namespace: "default", ownerUid: job.uid }) : [];
}

/** The node link's write of an agent's report that the pod ran to its end. */
async function finish(pod: StoredObject, phase: "Succeeded" | "Failed"): Promise<void> {
  const terminated = { exitCode: phase === "Succeeded" ? 0 : 1, reason: phase === "Succeeded" ? "Completed" : "Error", finishedAt: clock.now().toISOString() };
  await store.updateStatuses([{ key: { kind: "Pod", namespace: "default", name: pod.name }, uid: pod.uid, status: { phase, containerStatuses: [{ name: "work", restartCount: 0, state: { terminated } }] } }]);
}

const reconcile = () => jobReconciler.reconcile(context(), key);
const active = (list: StoredObject[]) => list.filter((pod) => !["Succeeded", "Failed"].includes((pod.status as { phase?: string }).phase ?? ""));

beforeEach(async () => {
  store = new PgDesiredStore(database().pool);
  clock = new ManualClock(Date.now());
  await database().pool.query("DELETE FROM objects; DELETE FROM events");
});

describe("Job reconciler on PostgreSQL", () => {
  it("runs completions 3 two at a time to Complete, keeping the finished pods", async () => {
    await commit("  completions: 3\n  parallelism: 2");
    await reconcile();
    let list = await pods();
    expect(list).toHaveLength(2);
    const job = (await store.getObject(key))!;
    for (const pod of list) expect(pod).toMatchObject({ ownerUid: job.uid, source: "controller", labels: { "batch.kubernetes.io/job-name": "batch" } });

    await finish(list[0]!, "Succeeded");
    await reconcile();
    list = await pods();
    expect(list).toHaveLength(3);
    expect(active(list)).toHaveLength(2);

    for (const pod of active(list)) await finish(pod, "Succeeded");
    await reconcile();
    expect(await pods()).toHaveLength(3);
    expect((await store.getObject(key))!.status).toMatchObject({ active: 0, succeeded: 3, failed: 0, conditions: [expect.objectContaining({ type: "Complete", status: "True" })], health: "Healthy" });
    const reasons = (await store.listEvents({ kind: "Job", name: "batch" })).map((event) => event.reason);
    expect(reasons).toContain("Completed");
  });

  it("fails with BackoffLimitExceeded after backoffLimit + 1 failed pods, waiting the back-off in between", async () => {
    await commit("  backoffLimit: 1");
    await reconcile();
    await finish((await pods())[0]!, "Failed");
    const wait = await reconcile();
    expect(await pods()).toHaveLength(1); // backing off
    expect(wait.requeueAfterMs).toBe(10_000);
    await clock.advance(10_000);
    await reconcile();
    const second = active(await pods());
    expect(second).toHaveLength(1);
    await finish(second[0]!, "Failed");
    await reconcile();
    expect((await store.getObject(key))!.status).toMatchObject({ failed: 2, conditions: [expect.objectContaining({ type: "Failed", reason: "BackoffLimitExceeded" })], health: "Degraded" });
    expect(await pods()).toHaveLength(2); // failed pods kept (restartPolicy Never)
  });

  it("deletes the Job and its pods once ttlSecondsAfterFinished has passed", async () => {
    await commit("  ttlSecondsAfterFinished: 30");
    await reconcile();
    await finish((await pods())[0]!, "Succeeded");
    const result = await reconcile();
    expect(result.requeueAfterMs).toBe(30_000);
    await clock.advance(30_000);
    await reconcile();
    expect(await store.getObject(key)).toBeNull();
    expect(await store.listObjects({ kind: "Pod" })).toEqual([]);
  });

  it("suspend deletes the active pods; resume starts again", async () => {
    await commit("  parallelism: 2\n  completions: 4");
    await reconcile();
    expect(await pods()).toHaveLength(2);
    await commit("  parallelism: 2\n  completions: 4\n  suspend: true");
    await reconcile();
    expect(await pods()).toEqual([]);
    expect((await store.getObject(key))!.status).toMatchObject({ health: "Suspended", startTime: null });
    await commit("  parallelism: 2\n  completions: 4\n  suspend: false");
    await reconcile();
    expect(await pods()).toHaveLength(2);
  });
});
