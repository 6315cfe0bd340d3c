import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgDesiredStore, type StoredObject } from "../../src/desired/index.ts";
import type { PodStatus } from "../../src/nodes/protocol.ts";
import { eventually } from "../helpers/eventually.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { startProcessCluster, type ProcessCluster } from "./process-cluster.ts";
import { webDeployment } from "../helpers/web-deployment.ts";

/**
 * A real `capstan up` SIGKILLed at a random point of a rolling update, again
 * and again, and started afresh on the same database and data dir each time.
 * Every other run on average it is killed a second time while it starts.
 * Checked all the while, every ~100 ms, from the nodes themselves (the
 * agents' own pod statuses and the processes carrying their mark) and from
 * the store: never more than replicas + maxSurge pods, never fewer than
 * replicas - maxUnavailable ready; each rollout then completes; and at the
 * end every marked process belongs to a pod the agents and the store know.
 *
 * FAULT_RUNS sets the number of rollouts killed through: 10 for the issue's
 * figure (~140 s alone on two loaded cores), 6 by default so that the file
 * stays within ~3 minutes beside another in CI (10 took 221 s there, a
 * restart of `capstan up` alone up to 17 s). FAULT_SEED replays the random
 * kill delays of a failed run (the seed is printed at the start).
 */

const runs = Number(process.env.FAULT_RUNS ?? 6);
const seed = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
// A typo must not pass as zero runs.
if (!Number.isInteger(runs) || runs < 1) throw new Error(`FAULT_RUNS must be a positive integer, not ${process.env.FAULT_RUNS}`);
if (!Number.isInteger(seed)) throw new Error(`FAULT_SEED must be an integer, not ${process.env.FAULT_SEED}`);
const replicas = 4;
const maxSurge = 1;
const maxUnavailable = 1;
/** The kill lands anywhere from the commit to about when the rollout would have finished. */
const maxKillDelayMs = 3_500;

const database = useTestDatabase();
let cluster: ProcessCluster | undefined;

const deployment = (version: string): string => webDeployment({ version, replicas, rollingUpdate: { maxSurge, maxUnavailable } });

/** mulberry32: a tiny seeded generator, so that a failing sequence of kill delays can be replayed. */
function seededRandom(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isWeb = (pod: { namespace: string; name: string }) => pod.namespace === "default" && pod.name.startsWith("web-");

/** Every agent's web pods, as the agents see them (whether a control plane is there or not). */
async function agentPods(): Promise<PodStatus[]> {
  const views = await cluster!.agentViews();
  return (await Promise.all(views.map((view) => view.statuses()))).flat().filter(isWeb);
}

interface Sample {
  at: number;
  source: "agents" | "processes" | "store";
  /** Pods (agents, store) or processes carrying an agent's mark (/proc). */
  pods: number;
  /** Infinity for /proc scans, which cannot tell readiness. */
  ready: number;
}

/** Samples the three views (agents, /proc, store) until stopped; every sample is kept, so a violation shows when and where. */
function watchInvariants(store: PgDesiredStore) {
  const samples: Sample[] = [];
  const errors: string[] = [];
  let watching = true;
  const loop = async (read: () => Promise<Sample>) => {
    while (watching) {
      await read().then(
        (sample) => samples.push(sample),
        (error: Error) => errors.push(error.message),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const fromAgents = loop(async () => {
    const pods = await agentPods();
    return { at: Date.now(), source: "agents", pods: pods.length, ready: pods.filter((pod) => pod.ready).length };
  });
  // A scan of /proc is slower than a socket round trip on a loaded machine: its own loop, so the agents' keeps its pace.
  const fromProcesses = loop(async () => {
    const processes = (await cluster!.markedProcesses()).flat().length;
    return { at: Date.now(), source: "processes", pods: processes, ready: Number.POSITIVE_INFINITY };
  });
  // The store counts what the controller counts: pods not being deleted (a deleted pod's replacement may start at once).
  const fromStore = loop(async () => {
    const pods = (await store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.deletedAt === null);
    return { at: Date.now(), source: "store", pods: pods.length, ready: pods.filter((pod) => (pod.status as { ready?: boolean }).ready === true).length };
  });
  return {
    samples,
    async stop() {
      watching = false;
      await Promise.all([fromAgents, fromProcesses, fromStore]);
      return { samples, errors };
    },
  };
}

async function rolledOutTo(store: PgDesiredStore, sha: string): Promise<void> {
  const pods = await agentPods();
  expect(pods.map((pod) => ({ commit: pod.commitSha, ready: pod.ready }))).toEqual(Array(replicas).fill({ commit: sha, ready: true }));
  const web = (await store.getObject({ kind: "Deployment", namespace: "default", name: "web" })) as StoredObject;
  expect(web.status).toMatchObject({ replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
}

beforeAll(async () => {
  cluster = await startProcessCluster({ databaseUrl: database().url, nodes: 3, files: { "web.yaml": deployment("v1") } });
  await cluster.startControlPlane();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
}, 60_000);

describe("capstan up SIGKILLed during rolling updates", () => {
  it(`resumes and completes each rollout, within the surge and availability bounds, leaving no orphan (${runs} kills)`, async () => {
    const store = new PgDesiredStore(database().pool);
    const random = seededRandom(seed);
    process.stderr.write(`control-plane-kill: seed ${seed} (FAULT_SEED=${seed} replays the kill delays), ${runs} runs\n`);
    await eventually(async () => expect((await agentPods()).filter((pod) => pod.ready)).toHaveLength(replicas), 90_000);
    const first = await cluster!.repo.git("rev-parse", "HEAD");
    await eventually(() => rolledOutTo(store, first.trim()), 30_000);

    const watch = watchInvariants(store);
    const durations: number[] = [];
    const shas: string[] = [];
    try {
      for (let run = 1; run <= runs; run += 1) {
        await cluster!.repo.write("web.yaml", deployment(`v${run + 1}`));
        const sha = await cluster!.repo.commit(`web v${run + 1}`);
        shas.push(sha);
        const committedAt = Date.now();
        const delayMs = Math.round(random() * maxKillDelayMs);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        const atKill = await agentPods();
        await cluster!.killControlPlane();
        const killedAt = Date.now();
        // Every other run, on average, it dies again while starting (migrations, SSH links, the first syncs).
        let restartKill = "";
        if (random() < 0.5) {
          const restartDelayMs = Math.round(random() * 5_000);
          const starting = cluster!.startControlPlane().then(
            () => "after it was up",
            () => "before it was up",
          );
          await new Promise((resolve) => setTimeout(resolve, restartDelayMs));
          await cluster!.killControlPlane();
          restartKill = `, killed again ${restartDelayMs} ms into its restart (${await starting})`;
        }
        await cluster!.startControlPlane();
        const upAt = Date.now();
        await eventually(() => rolledOutTo(store, sha), 60_000);
        const done = Date.now();
        durations.push(done - committedAt);
        const onNew = atKill.filter((pod) => pod.commitSha === sha).length;
        process.stderr.write(
          `run ${run} (commit at ${committedAt}): killed ${delayMs} ms after the commit (${onNew}/${atKill.length} pods on it)${restartKill}, up again in ${upAt - killedAt} ms, rollout complete ${done - upAt} ms later (${done - committedAt} ms from the commit)\n`,
        );
      }
    } finally {
      const { samples, errors } = await watch.stop();
      const agents = samples.filter((sample) => sample.source === "agents");
      const processes = samples.filter((sample) => sample.source === "processes");
      const stored = samples.filter((sample) => sample.source === "store");
      process.stderr.write(
        `invariants: ${agents.length} agent samples (max pods ${Math.max(...agents.map((s) => s.pods))}, min ready ${Math.min(...agents.map((s) => s.ready))}), ` +
          `${processes.length} /proc scans (max marked processes ${Math.max(...processes.map((s) => s.pods))}), ` +
          `${stored.length} store samples (max pods ${Math.max(...stored.map((s) => s.pods))}, min ready ${Math.min(...stored.map((s) => s.ready))}), ${errors.length} failed reads\n`,
      );
      const over = samples.filter((sample) => sample.pods > replicas + maxSurge);
      const under = samples.filter((sample) => sample.ready < replicas - maxUnavailable);
      // The first few are enough to place a violation among the runs' timings printed above.
      expect(over.length, `more than replicas + maxSurge pods: ${JSON.stringify(over.slice(0, 5))}`).toBe(0);
      expect(under.length, `fewer than replicas - maxUnavailable ready: ${JSON.stringify(under.slice(0, 5))}`).toBe(0);
      // The agents' sockets answer throughout: a failed read would be a gap in the watch.
      expect(errors).toEqual([]);
      expect(agents.length).toBeGreaterThan(0);
    }
    process.stderr.write(`commit to rollout complete, with a kill in between: ${durations.map((ms) => `${ms}`).join(", ")} ms\n`);

    // Each commit recorded once and applied; each rolled out once, to completion, however often the control plane died.
    const revisions = await database().pool.query<{ sha: string; state: string }>("SELECT sha, state FROM revisions WHERE sha = ANY($1) ORDER BY id", [shas]);
    expect(revisions.rows).toEqual(shas.map((sha) => ({ sha, state: "applied" })));
    const rollouts = await database().pool.query<{ revision_sha: string; outcome: string }>(
      "SELECT revision_sha, outcome FROM rollouts WHERE kind = 'Deployment' AND name = 'web' AND revision_sha = ANY($1) ORDER BY id",
      [shas],
    );
    expect(rollouts.rows).toEqual(shas.map((sha) => ({ revision_sha: sha, outcome: "complete" })));

    // No orphans: on every node, exactly the processes of the pods its agent runs, and those are the store's pods.
    await eventually(async () => {
      const views = await cluster!.agentViews();
      const marked = await cluster!.markedProcesses();
      const storePods = (await store.listObjects({ kind: "Pod", namespace: "default" })).map((pod) => pod.uid).sort();
      const agentUids: string[] = [];
      for (const [index, view] of views.entries()) {
        const statuses = await view.statuses();
        agentUids.push(...statuses.map((pod) => pod.uid));
        const podPids = statuses.flatMap((pod) => pod.containerStatuses.map((container) => container.pid));
        expect(marked[index]!.sort(), `node-${index}: processes carrying the agent's mark`).toEqual(podPids.sort());
      }
      expect(agentUids.sort()).toEqual(storePods);
      expect(storePods).toHaveLength(replicas);
    }, 30_000);
  }, 120_000 + runs * 45_000);
});
