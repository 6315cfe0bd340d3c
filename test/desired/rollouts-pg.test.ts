import { beforeEach, describe, expect, it } from "vitest";
import { PgDesiredStore, PgRolloutLog, type DesiredObject } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { rolloutTracker, type FailedRollout } from "../../src/reconcilers/rollout-tracker.ts";
import type { ReconcileContext } from "../../src/reconcilers/types.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * Rollout history on real PostgreSQL: what each applied commit changed, the
 * rollouts it started, how the tracker ends them, and the revision's health.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
let rollouts: PgRolloutLog;
let clock: ManualClock;
const web = { kind: "Deployment", namespace: "default", name: "web" };

beforeEach(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state, rollouts RESTART IDENTITY CASCADE");
  store = new PgDesiredStore(database().pool);
  rollouts = new PgRolloutLog(database().pool);
  clock = new ManualClock(new Date("2026-11-23T12:00:00Z"));
});

const commit = (sha: string, message = sha) => ({
  sha: sha.padEnd(40, "0"),
  parentSha: null,
  authorName: "Ada",
  authorEmail: "ada@example.com",
  message,
  committedAt: new Date("2026-11-23T11:00:00Z"),
});

function deployment(version: string, annotations: Record<string, string> = {}): DesiredObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    namespace: "default",
    name: "web",
    labels: {},
    annotations,
    spec: { replicas: 2, template: { spec: { containers: [{ name: "web", env: [{ name: "VERSION", value: version }] }] } } },
    source: { file: "web.yaml", line: 1, column: 1 },
  };
}

const settings = (value: string): DesiredObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  namespace: "default",
  name: "settings",
  labels: {},
  annotations: {},
  spec: { data: { value } },
  source: { file: "settings.yaml", line: 1, column: 1 },
});

/** The workload's controller reports on the rollout: generation observed, and a Progressing condition. */
async function reportStatus(observedGeneration: number, reason: string, status: "True" | "False", health: string): Promise<void> {
  await store.updateStatuses([{ key: web, status: { health, conditions: [{ type: "Progressing", status, reason }] }, observedGeneration }]);
}

function context(): ReconcileContext {
  return {
    store,
    clock,
    log: silentLogger,
    event: (about, event) => store.recordEvent({ objectUid: about.uid ?? null, ...about, ...event, source: "rollout-tracker" }),
  };
}

describe("rollout records", () => {
  it("records what each commit changed, field by field, and starts a rollout for a changed Deployment only", async () => {
    await store.applyRevision(commit("a1"), [deployment("v1"), settings("x")], []);
    await store.applyRevision(commit("b2"), [deployment("v2"), settings("y")], []);
    await store.applyRevision(commit("c3"), [deployment("v2")], []);

    const [third, second, first] = await rollouts.history();
    expect(first!.changes.map((change) => `${change.change} ${change.kind}/${change.name}`)).toEqual(["added ConfigMap/settings", "added Deployment/web"]);
    expect(second!.changes).toEqual([
      { kind: "ConfigMap", namespace: "default", name: "settings", change: "changed", fields: [{ path: "spec.data.value", from: "x", to: "y" }] },
      {
        kind: "Deployment",
        namespace: "default",
        name: "web",
        change: "changed",
        fields: [{ path: "spec.template.spec.containers[0].env[0].value", from: "v1", to: "v2" }],
      },
    ]);
    expect(third!.changes).toEqual([{ kind: "ConfigMap", namespace: "default", name: "settings", change: "removed", fields: [] }]);
    // c3 touched no workload: healthy at once. a1's rollout was superseded by b2's, still under way.
    expect([first, second, third].map((entry) => entry!.health)).toEqual(["superseded", "progressing", "healthy"]);
    expect(first!.rollouts[0]).toMatchObject({ outcome: "superseded", reason: `superseded by ${commit("b2").sha}`, generation: 1 });
    expect(second!.rollouts[0]).toMatchObject({ outcome: "progressing", generation: 2, finishedAt: null });
  });

  it("does not start a rollout when only a workload's labels or file position change", async () => {
    await store.applyRevision(commit("a1"), [deployment("v1")], []);
    const moved = { ...deployment("v1"), labels: { team: "shop" }, source: { file: "apps/web.yaml", line: 3, column: 1 } };
    await store.applyRevision(commit("b2"), [moved], []);
    const [latest] = await rollouts.history();
    expect(latest!.changes).toEqual([{ ...web, change: "changed", fields: [{ path: "metadata.labels.team", to: "shop" }] }]);
    expect(latest!.rollouts).toEqual([]);
    expect(latest!.health).toBe("healthy");
  });
});

describe("the rollout tracker", () => {
  it("waits for the controller to observe the rollout's generation, then marks it complete and the revision healthy", async () => {
    await store.applyRevision(commit("a1"), [deployment("v1")], []);
    const tracker = rolloutTracker("Deployment", { rollouts });
    await reportStatus(0, "NewReplicaSetAvailable", "True", "Healthy");
    await tracker.reconcile(context(), web);
    expect((await rollouts.progressing(web))?.outcome).toBe("progressing");

    await reportStatus(1, "NewReplicaSetAvailable", "True", "Healthy");
    await tracker.reconcile(context(), web);
    const [entry] = await rollouts.history();
    expect(entry!.rollouts[0]).toMatchObject({ outcome: "complete", finishedAt: clock.now() });
    expect(entry!.health).toBe("healthy");
    expect((await store.listEvents({ name: "web" })).map((event) => event.reason)).toEqual(["RolloutComplete"]);
  });

  it("marks a rollout past its deadline failed, the revision failed, and asks for a revert only when the workload wants one", async () => {
    const reverts: FailedRollout[] = [];
    const tracker = rolloutTracker("Deployment", {
      rollouts,
      autoRevert: async (failure) => {
        reverts.push(failure);
        return { type: "Normal", reason: "AutoReverted", message: "pushed" };
      },
    });
    await store.applyRevision(commit("a1"), [deployment("v1")], []);
    await reportStatus(1, "ProgressDeadlineExceeded", "False", "Degraded");
    await tracker.reconcile(context(), web);
    expect(reverts).toEqual([]);
    expect((await rollouts.history())[0]!.health).toBe("failed");

    await store.applyRevision(commit("b2"), [deployment("v2", { "capstan.dev/auto-revert": "true" })], []);
    await reportStatus(2, "ProgressDeadlineExceeded", "False", "Degraded");
    await tracker.reconcile(context(), web);
    await tracker.reconcile(context(), web);
    expect(reverts.map((failure) => [failure.rollout.revisionSha, failure.reason])).toEqual([[commit("b2").sha, "ProgressDeadlineExceeded"]]);
    // One RolloutFailed per commit (a1 and b2), one auto-revert, for b2 only.
    expect((await store.listEvents({ name: "web" })).map((event) => event.reason).sort()).toEqual(["AutoReverted", "RolloutFailed", "RolloutFailed"]);
  });

  it("with the global flag, asks for a revert of any workload's failed rollout, annotated or not", async () => {
    const reverts: string[] = [];
    const tracker = rolloutTracker("Deployment", {
      rollouts,
      autoRevertAll: true,
      autoRevert: async (failure) => {
        reverts.push(failure.workload.name);
        return { type: "Normal", reason: "AutoReverted", message: "pushed" };
      },
    });
    await store.applyRevision(commit("a1"), [deployment("v1")], []);
    await reportStatus(1, "ProgressDeadlineExceeded", "False", "Degraded");
    await tracker.reconcile(context(), web);
    expect(reverts).toEqual(["web"]);
  });

  it("lets one of two trackers finish a rollout, and one revert claim win", async () => {
    await store.applyRevision(commit("a1"), [deployment("v1")], []);
    const rollout = (await rollouts.progressing(web))!;
    const finished = await Promise.all([rollouts.finish(rollout.id, "failed", "x", clock.now()), rollouts.finish(rollout.id, "complete", null, clock.now())]);
    expect(finished.filter(Boolean)).toHaveLength(1);
    expect(await Promise.all([rollouts.claimRevert(rollout.id), rollouts.claimRevert(rollout.id)])).toEqual(expect.arrayContaining([true, false]));
    expect(await rollouts.markReverted(rollout.id, "f".repeat(40))).toBe(true);
    expect(await rollouts.markReverted(rollout.id, "e".repeat(40))).toBe(false);
    expect((await rollouts.get(rollout.id))!.revertedBy).toBe("f".repeat(40));
  });

  it("filters the history to the commits that rolled one workload out", async () => {
    await store.applyRevision(commit("a1"), [deployment("v1"), settings("x")], []);
    await store.applyRevision(commit("b2"), [deployment("v1"), settings("y")], []);
    await store.applyRevision(commit("c3"), [deployment("v2"), settings("y")], []);
    const entries = await rollouts.history({ workload: web });
    expect(entries.map((entry) => entry.sha.slice(0, 2))).toEqual(["c3", "a1"]);
  });
});
