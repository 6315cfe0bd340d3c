import { beforeEach, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { loadDirectory, PgDesiredStore, validateFiles, type CommitInfo, type DesiredStore, type ObjectKey, type StoredObject } from "../../src/desired/index.ts";
import { cronJobReconciler, jobReconciler } from "../../src/reconcilers/index.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { reconcileContext } from "../helpers/reconcile-context.ts";

/**
 * The CronJob reconciler on real PostgreSQL: Jobs made at the scheduled
 * minute of an injected clock, exactly once even when passes race.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
let clock: ManualClock;
const key: ObjectKey = { kind: "CronJob", namespace: "default", name: "report" };
const minute = 60_000;

function context(using: DesiredStore = store): ReconcileContext {
  return reconcileContext(using, clock, "cronjob-controller", { eventsAt: "clock" });
}

async function commit(extra = ""): Promise<void> {
  const content = `apiVersion: batch/v1
kind: CronJob
metadata: { name: report, namespace: default }
spec:
  schedule: "* * * * *"
  timeZone: UTC
${extra}  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{ name: work, command: [/bin/true] }]
`;
  const { objects, problems } = validateFiles([{ path: "cron.yaml", content }]);
  expect(problems).toEqual([]);
  const info: CommitInfo = { sha: `sha-${extra.length}`, parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: clock.now() };
  await store.applyRevision(info, objects, []);
}

async function jobs(): Promise<StoredObject[]> {
  const cronJob = await store.getObject(key);
  return store.listObjects({ kind: "Job", namespace: "default", ownerUid: cronJob!.uid });
}

/** The first whole minute after the CronJob was stored (its creation is the earliest a run can be). */
let firstRun: number;
const reconcile = (ctx = context()) => cronJobReconciler.reconcile(ctx, key);

beforeEach(async () => {
  store = new PgDesiredStore(database().pool);
  await database().pool.query("DELETE FROM objects; DELETE FROM events");
  clock = new ManualClock(Date.now());
  await commit();
  const created = (await store.getObject(key))!.createdAt.getTime();
  firstRun = Math.ceil((created + 1) / minute) * minute;
  await clock.advance(firstRun + 2_000 - clock.now().getTime());
});

describe("CronJob reconciler on PostgreSQL", () => {
  it("creates the run's Job from the template, owned, named by the scheduled minute; requeues for the next minute", async () => {
    const result = await reconcile();
    const list = await jobs();
    expect(list.map((job) => job.name)).toEqual([`report-${firstRun / minute}`]);
    expect(list[0]).toMatchObject({ source: "controller", annotations: { "batch.kubernetes.io/cronjob-scheduled-timestamp": new Date(firstRun).toISOString() } });
    expect(result.requeueAfterMs).toBe(minute - 2_000 + 100);
    expect((await store.getObject(key))!.status).toMatchObject({
      lastScheduleTime: new Date(firstRun).toISOString(),
      active: [{ name: `report-${firstRun / minute}` }],
      nextScheduleTime: new Date(firstRun + minute).toISOString(),
    });

    // The Job it made is one the Job controller runs.
    await jobReconciler.reconcile(context(), { kind: "Job", namespace: "default", name: list[0]!.name });
    expect(await store.listObjects({ kind: "Pod", ownerUid: list[0]!.uid })).toHaveLength(1);
  });

  it("exactly once: control planes racing on one scheduled time make one Job", async () => {
    // Each racer is held after reading the CronJob's Jobs until all have read them: all decide to create the same run.
    const racers = 4;
    let arrived = 0;
    let release!: () => void;
    const allRead = new Promise<void>((resolve) => (release = resolve));
    const racer = (): DesiredStore => {
      const own = new PgDesiredStore(database().pool);
      return new Proxy(own, {
        get(target, property) {
          if (property !== "listObjects") {
            // Bound to the store itself: its methods use private members, which a Proxy receiver does not have.
            const value: unknown = Reflect.get(target, property, target);
            return typeof value === "function" ? value.bind(target) : value;
          }
          return async (...args: Parameters<DesiredStore["listObjects"]>) => {
            const listed = await target.listObjects(...args);
            if (args[0]?.kind === "Job" && (arrived += 1) === racers) release();
            await allRead;
            return listed;
          };
        },
      });
    };
    const results = await Promise.allSettled(Array.from({ length: racers }, () => reconcile(context(racer()))));
    expect(results.map((result) => result.status)).toEqual(Array(racers).fill("fulfilled"));
    expect((await jobs()).map((job) => job.name)).toEqual([`report-${firstRun / minute}`]);
    const created = (await store.listEvents({ kind: "CronJob", name: "report" })).filter((event) => event.reason === "SuccessfulCreate");
    expect(created.reduce((sum, event) => sum + event.count, 0)).toBe(1);
  });

  it("exactly once: a pass whose status write was lost does not start the run again", async () => {
    await reconcile();
    await store.updateStatuses([{ key, status: { lastScheduleTime: null, active: [] } }]);
    await reconcile();
    expect(await jobs()).toHaveLength(1);
    expect((await store.getObject(key))!.status).toMatchObject({ lastScheduleTime: new Date(firstRun).toISOString() });
  });

  it("Forbid: the next minute waits for the running Job, then starts", async () => {
    await commit("  concurrencyPolicy: Forbid\n");
    await reconcile();
    await clock.advance(minute);
    await reconcile();
    expect(await jobs()).toHaveLength(1);
    const [running] = await jobs();
    await store.updateStatuses([{ key: { kind: "Job", namespace: "default", name: running!.name }, status: { conditions: [{ type: "Complete", status: "True", lastTransitionTime: clock.now().toISOString() }] } }]);
    await reconcile();
    expect((await jobs()).map((job) => job.name).sort()).toEqual([`report-${firstRun / minute}`, `report-${firstRun / minute + 1}`]);
  });

  it("a run that fails leaves one Warning SawCompletedJob on the CronJob (what CronJobRunFailed notifications forward)", async () => {
    await reconcile();
    const [run] = await jobs();
    await store.updateStatuses([{ key: { kind: "Job", namespace: "default", name: run!.name }, status: { conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", lastTransitionTime: clock.now().toISOString() }] } }]);
    await reconcile();
    await reconcile();
    const seen = (await store.listEvents({ kind: "CronJob", name: "report" })).filter((event) => event.reason === "SawCompletedJob");
    expect(seen.map((event) => [event.type, event.message, event.count])).toEqual([["Warning", `Saw completed job: ${run!.name}, status: Failed`, 1]]);
  });

  it("suspended: no Job; resumed: the latest missed run starts", async () => {
    await commit("  suspend: true\n");
    await reconcile();
    await clock.advance(3 * minute);
    await reconcile();
    expect(await jobs()).toEqual([]);
    await commit("  suspend: false\n");
    await reconcile();
    expect((await jobs()).map((job) => job.name)).toEqual([`report-${firstRun / minute + 3}`]);
  });

  it("the examples-repo CronJob makes its Job at a five-minute mark, and the Job its pod", async () => {
    const files = await loadDirectory(fileURLToPath(new URL("../../examples-repo", import.meta.url)));
    const { objects, problems } = validateFiles(files);
    expect(problems.filter((problem) => problem.severity === "error")).toEqual([]);
    await store.applyRevision({ sha: "examples", parentSha: null, authorName: "t", authorEmail: "t@x", message: "examples", committedAt: clock.now() }, objects, []);
    const reportKey = { kind: "CronJob", namespace: "shop", name: "report" };
    const created = (await store.getObject(reportKey))!.createdAt.getTime();
    const mark = Math.ceil((created + 1) / (5 * minute)) * 5 * minute;
    await clock.advance(mark + 1_000 - clock.now().getTime());
    await cronJobReconciler.reconcile(context(), reportKey);
    const made = await store.getObject({ kind: "Job", namespace: "shop", name: `report-${mark / minute}` });
    expect(made).toMatchObject({ ownerUid: (await store.getObject(reportKey))!.uid, spec: { backoffLimit: 2, activeDeadlineSeconds: 120 } });
    await jobReconciler.reconcile(context(), { kind: "Job", namespace: "shop", name: made!.name });
    const [pod] = await store.listObjects({ kind: "Pod", ownerUid: made!.uid });
    expect(pod!.labels).toMatchObject({ app: "report", "job-name": made!.name });
    expect(pod!.spec).toMatchObject({ restartPolicy: "OnFailure", containers: [expect.objectContaining({ command: ["node"], args: ["app/report.js"] })] });
  });
});
