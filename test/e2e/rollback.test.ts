import { beforeAll, describe, expect, it } from "vitest";
import { PgRolloutLog, type StoredObject } from "../../src/desired/index.ts";
import { runCli } from "../helpers/cli.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { webDeployment } from "../helpers/web-deployment.ts";

/**
 * Rollbacks are commits, end to end: three real sshd nodes and agents, the
 * manifests on an HTTP remote (git http-backend behind basic auth). A bad
 * rollout fails, `capstan rollback` pushes exactly one revert commit and the
 * good version runs again; auto-revert does the same by itself; a branch that
 * moved is refused; and a plain `git revert` brings the old ReplicaSet back.
 */

/** Actions (rollback) need the control plane's token; the CLI sends CAPSTAN_TOKEN from its environment. */
const token = "e2e-rollback-token-0123";
const cluster = useCluster({ nodes: 3, overHttp: { username: "deployer", password: "s3cret-pa55word" }, env: { CAPSTAN_RESYNC_INTERVAL: "2", CAPSTAN_TOKEN: token } });
let rollouts: PgRolloutLog;
beforeAll(() => {
  rollouts = new PgRolloutLog(cluster.pool);
});
const web = { kind: "Deployment", namespace: "default", name: "web" };

/** `good: false` = readiness never passes, so the rollout stalls until its 4 s progress deadline. */
const deployment = (version: string, options: { good: boolean; autoRevert?: boolean }): string =>
  webDeployment({
    version,
    progressDeadlineSeconds: 4,
    terminationGracePeriodSeconds: 1,
    readiness: options.good ? "http" : "never",
    ...(options.autoRevert ? { annotations: { "capstan.dev/auto-revert": "true" } } : {}),
  });

const commit = (content: string, message: string) => cluster.commit({ "web.yaml": content }, message);

const versionOf = (pod: StoredObject): string => ((pod.spec as { containers: { env: { value: string }[] }[] }).containers[0]!.env[0]!.value);
const isReady = (pod: StoredObject): boolean => (pod.status as { ready?: boolean }).ready === true;
const pods = () => cluster.store.listObjects({ kind: "Pod", namespace: "default" });

async function expectRunning(version: string): Promise<void> {
  await eventually(async () => {
    const current = await pods();
    expect(current.map(versionOf)).toEqual([version, version, version]);
    expect(current.every(isReady)).toBe(true);
  }, 60_000);
  // Every other version's process is gone from the nodes too.
  await eventually(async () => expect(await cluster.podProcesses()).toHaveLength(3), 30_000);
}

async function rolloutOf(sha: string) {
  const entry = (await rollouts.history({ limit: 50 })).find((candidate) => candidate.sha === sha);
  return { health: entry?.health, rollout: entry?.rollouts[0] };
}

const log = (...args: string[]) => cluster.repo.git("log", "--format=%H %P %s", ...args);

describe("rollbacks as commits on three SSH nodes and an HTTP remote", () => {
  let v1 = "";
  let v2 = "";

  it("records v1's rollout complete and v2's (readiness never passes) failed with its reason", async () => {
    v1 = await commit(deployment("v1", { good: true }), "web v1");
    await expectRunning("v1");
    await eventually(async () => expect(await rolloutOf(v1)).toMatchObject({ health: "healthy", rollout: { outcome: "complete" } }), 20_000);

    v2 = await commit(deployment("v2", { good: false }), "web v2");
    await eventually(async () => {
      expect(await rolloutOf(v2)).toMatchObject({
        health: "failed",
        rollout: { outcome: "failed", reason: expect.stringMatching(/^ProgressDeadlineExceeded: not ready \(pod web-\S+ never became ready\)$/) },
      });
    }, 40_000);
    // Half rolled out: v2's surge pod beside v1's three, each commit with the nodes that run it.
    const byCommit = await runCli(["status", "--by-commit", "--json", "--server", cluster.controlPlane.url]);
    const placements = JSON.parse(byCommit.stdout).items as { commit: string; subject: string; pods: { ready: boolean }[]; nodes: string[] }[];
    expect(placements.map((item) => [item.commit, item.subject, item.pods.length, item.pods.filter((pod) => pod.ready).length])).toEqual([
      [v2, "web v2", 1, 0],
      [v1, "web v1", 3, 3],
    ]);
    expect(placements[1]!.nodes).toEqual(["node-0", "node-1", "node-2"]);
    const table = (await runCli(["status", "--by-commit", "--server", cluster.controlPlane.url])).stdout.split("\n");
    expect(table[0]).toMatch(/^COMMIT\s+SUBJECT\s+PODS\s+READY\s+NODES$/);
    expect(table[1]).toMatch(new RegExp(`^${v2.slice(0, 10)}\\s+web v2\\s+1\\s+0\\s+node-\\d$`));
    const history = await runCli(["history", "--workload", "deployment/web", "--server", cluster.controlPlane.url]);
    expect(history.code).toBe(0);
    const rows = history.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^COMMIT\s+STATE\s+OUTCOME\s+COMMITTED\s+AUTHOR\s+SUBJECT$/);
    expect(rows[1]).toMatch(new RegExp(`^${v2.slice(0, 10)}\\s+applied\\s+failed: deployment/web ProgressDeadlineExceeded: not ready .*web v2$`));
    expect(rows[2]).toMatch(new RegExp(`^${v1.slice(0, 10)}\\s+applied\\s+healthy\\s+.*web v1$`));
    const diff = await runCli(["diff", v2.slice(0, 10), "--server", cluster.controlPlane.url]);
    expect(diff.stdout).toContain(`${v1.slice(0, 10)}..${v2.slice(0, 10)}\n~ Deployment default/web\n`);
    expect(diff.stdout).toContain('    spec.template.spec.containers[0].env[0].value: "v1" -> "v2"\n');
  }, 120_000);

  it("capstan rollback pushes exactly one revert commit to the remote, and v1 runs again with no v2 pod left", async () => {
    const dryRun = await runCli(["rollback", "--dry-run", "--server", cluster.controlPlane.url], { CAPSTAN_TOKEN: token });
    expect(dryRun.stdout).toContain(`dry run: would commit on top of ${v2.slice(0, 10)}: Revert to ${v1.slice(0, 7)}: web v1\n`);
    expect(await cluster.repo.revParse("main")).toBe(v2);

    const result = await runCli(["rollback", "--as", "e2e@test", "--server", cluster.controlPlane.url], { CAPSTAN_TOKEN: token });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const commits = (await log(`${v2}..main`)).split("\n");
    expect(commits).toHaveLength(1);
    const [revert, parent, ...subject] = commits[0]!.split(" ");
    expect(parent).toBe(v2);
    expect(subject.join(" ")).toBe(`Revert to ${v1.slice(0, 7)}: web v1`);
    expect(await cluster.repo.git("log", "-1", "--format=%B", "main")).toContain(`Capstan-Rollback-From: ${v2}\nCapstan-Rollback-To: ${v1}\nCapstan-Requested-By: e2e@test`);
    expect(result.stdout).toContain(`pushed ${revert!.slice(0, 10)} on top of ${v2.slice(0, 10)}`);
    await expectRunning("v1");
    await eventually(async () => expect((await rolloutOf(revert!)).health).toBe("healthy"), 20_000);
  }, 120_000);

  it("auto-reverts a failed rollout of an annotated workload by itself, once", async () => {
    const before = await cluster.repo.revParse("main");
    const v3 = await commit(deployment("v3", { good: false, autoRevert: true }), "web v3");
    await eventually(async () => expect((await log(`${v3}..main`)).split("\n").filter(Boolean)).toHaveLength(1), 60_000);
    const [revert] = (await log(`${v3}..main`)).split(" ");
    expect(await cluster.repo.git("log", "-1", "--format=%s%n%b", "main")).toMatch(
      new RegExp(`^Revert ${v3.slice(0, 7)}: web v3\\n[\\s\\S]*rollout of Deployment/default/web failed: ProgressDeadlineExceeded[\\s\\S]*Capstan-Auto-Revert-Of: ${v3}`),
    );
    expect(await cluster.repo.git("show", "main:web.yaml")).toBe(await cluster.repo.git("show", `${before}:web.yaml`));
    await expectRunning("v1");
    expect((await rolloutOf(v3)).rollout).toMatchObject({ outcome: "failed", revertedBy: revert });
    const events = await cluster.store.listEvents({ kind: "Deployment", name: "web" });
    expect(events.find((event) => event.reason === "AutoReverted")?.message).toContain(`reverting commit ${v3.slice(0, 7)}`);
    // Still exactly one revert commit a few resyncs later.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect((await log(`${v3}..main`)).split("\n")).toHaveLength(1);
  }, 120_000);

  it("refuses a rollback when the branch moved since the last sync, and pushes nothing", async () => {
    await cluster.repo.write("web.yaml", deployment("v4", { good: true }));
    const moved = await cluster.repo.commit("web v4, not yet synced"); // no trigger: capstan has not seen it
    const result = await runCli(["rollback", "--to", v1.slice(0, 10), "--server", cluster.controlPlane.url], { CAPSTAN_TOKEN: token });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: branch main moved: capstan built on \w{10} but the branch is now at \w{10}; nothing was pushed/);
    expect(await cluster.repo.revParse("main")).toBe(moved);
  }, 60_000);

  it("a plain git revert of a commit scales the previous ReplicaSet back up (same ReplicaSet, same template hash)", async () => {
    cluster.controlPlane.sync.trigger();
    await expectRunning("v4");
    const v1ReplicaSet = (await cluster.store.listObjects({ kind: "ReplicaSet", namespace: "default" })).find((rs) => JSON.stringify(rs.spec).includes('"v1"'))!;
    expect(v1ReplicaSet.spec).toMatchObject({ replicas: 0 });
    await cluster.repo.git("revert", "--no-edit", "HEAD");
    cluster.controlPlane.sync.trigger();
    await expectRunning("v1");
    const after = await cluster.store.getObject({ kind: "ReplicaSet", namespace: "default", name: v1ReplicaSet.name });
    expect(after).toMatchObject({ uid: v1ReplicaSet.uid, spec: { replicas: 3 } });
    expect((await pods()).every((pod) => pod.labels["pod-template-hash"] === v1ReplicaSet.labels["pod-template-hash"])).toBe(true);
  }, 120_000);

  it("records each repair of drift on the nodes as DriftRepaired: a process killed by hand, a pod deleted behind capstan's back", async () => {
    const [victim, deleted] = (await pods()).filter(isReady);
    const node = (victim!.spec as { nodeName: string }).nodeName;
    const pid = cluster.controlPlane.nodes.client(node)!.statuses().find((status) => status.uid === victim!.uid)!.containerStatuses[0]!.pid!;
    process.kill(pid, "SIGKILL");
    await eventually(async () => {
      const events = await cluster.store.listEvents({ kind: "Pod", name: victim!.name });
      expect(events.find((event) => event.reason === "DriftRepaired")?.message).toMatch(new RegExp(`^container web was killed by SIGKILL and was restarted on node ${node} \\(restart 1\\)$`));
    }, 20_000);

    await cluster.store.deleteObject({ kind: "Pod", namespace: "default", name: deleted!.name });
    const owner = (await cluster.store.getObjectByUid(deleted!.ownerUid!))!;
    await eventually(async () => {
      const events = await cluster.store.listEvents({ kind: "ReplicaSet", name: owner.name });
      expect(events.find((event) => event.reason === "DriftRepaired")?.message).toBe("Replaced 1 pod(s) that went away without a change in Git (deleted, evicted or failed)");
    }, 20_000);
    await expectRunning("v1");
  }, 60_000);

  it("applies sync waves in order: the later wave's pods are created only after the earlier wave's pods are ready", async () => {
    const db = deployment("db-1", { good: true })
      .replace("  name: web\n", '  name: db\n  annotations: { capstan.dev/sync-wave: "0" }\n')
      .replaceAll("app: web", "app: db")
      .replace("  replicas: 3", "  replicas: 2")
      .replace("periodSeconds: 1 }", "periodSeconds: 1, initialDelaySeconds: 2 }");
    const web = deployment("v5", { good: true }).replace("  name: web\n", '  name: web\n  annotations: { capstan.dev/sync-wave: "1" }\n');
    const sha = await cluster.commit({ "db.yaml": db, "web.yaml": web }, "db in wave 0, web v5 in wave 1");
    await eventually(async () => {
      const current = await pods();
      expect(current.filter((pod) => pod.name.startsWith("web-")).map(versionOf)).toEqual(["v5", "v5", "v5"]);
      expect(current.filter((pod) => pod.name.startsWith("db-")).every(isReady)).toBe(true);
      expect(current.every(isReady)).toBe(true);
    }, 90_000);
    const readyAt = (pod: StoredObject) =>
      Date.parse((pod.status as { conditions: { type: string; lastTransitionTime: string }[] }).conditions.find((condition) => condition.type === "Ready")!.lastTransitionTime);
    const current = await pods();
    const dbReady = Math.max(...current.filter((pod) => pod.name.startsWith("db-")).map(readyAt));
    const webCreated = Math.min(...current.filter((pod) => pod.name.startsWith("web-")).map((pod) => pod.createdAt.getTime()));
    expect(webCreated).toBeGreaterThanOrEqual(dbReady);
    // The tracker ends web's rollout on the status write after its pods turned ready.
    await eventually(async () => {
      const [entry] = await rollouts.history({ limit: 1 });
      expect(entry!.sha).toBe(sha);
      expect(entry!.changes.map((change) => `${change.change} ${change.name}`)).toEqual(["added db", "changed web"]);
      expect(entry!.rollouts.map((rollout) => [rollout.name, rollout.outcome])).toEqual([["db", "complete"], ["web", "complete"]]);
      expect(entry!.health).toBe("healthy");
    }, 20_000);
  }, 120_000);
});
