import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { OffsetClock } from "../helpers/offset-clock.ts";
import { sample } from "../helpers/sample.ts";

/**
 * Jobs and a CronJob pushed to Git run to completion on real SSH nodes (sshd
 * on 127.0.0.6-7, the real capstan-agent, real processes), end to end on
 * real PostgreSQL. The control plane's clock is the system clock with an
 * offset the CronJob test pushes to just before a whole minute, so the
 * `* * * * *` run is due seconds after the commit instead of up to a minute.
 */

const clock = new OffsetClock();
const cluster = useCluster({ nodes: 2, firstAddress: "127.0.0.6", name: "job", clock, beforeStart: () => mkdir(outDir(), { recursive: true }) });
/** Where the Indexed Job's pods write: a fresh directory beside the control plane's data. */
const outDir = () => join(cluster.dataDir, "out");

const node = (script: string) => `["${process.execPath}", "-e", ${JSON.stringify(script)}]`;

function jobManifest(name: string, spec: string, command: string, restartPolicy = "Never"): string {
  return `apiVersion: batch/v1
kind: Job
metadata: { name: ${name} }
spec:
${spec}
  template:
    spec:
      restartPolicy: ${restartPolicy}
      terminationGracePeriodSeconds: 1
      containers:
        - name: work
          command: ${command}
`;
}

async function job(name: string): Promise<StoredObject | null> {
  return cluster.store.getObject({ kind: "Job", namespace: "default", name });
}

async function podsOf(owner: StoredObject): Promise<StoredObject[]> {
  return cluster.store.listObjects({ kind: "Pod", namespace: "default", ownerUid: owner.uid });
}

const phase = (pod: StoredObject) => (pod.status as { phase?: string }).phase ?? "Pending";
const finished = (pod: StoredObject) => ["Succeeded", "Failed"].includes(phase(pod));
const conditionsOf = (object: StoredObject) => (object.status as { conditions?: { type: string; status: string; reason: string }[] }).conditions ?? [];

const processesOnNodes = async () => (await cluster.podProcesses()).length;

describe("Jobs on real SSH nodes", () => {
  it("completions 5, parallelism 2: never more than 2 running at once, 5 succeeded, Complete", async () => {
    const sampler = sample(async () => {
      const current = await job("five");
      return current ? (await podsOf(current)).filter((pod) => !finished(pod)).length : undefined;
    });
    await cluster.commit({ "five.yaml": jobManifest("five", "  completions: 5\n  parallelism: 2", node("setTimeout(() => {}, 1500)")) }, "five in twos");
    await eventually(async () => {
      const current = (await job("five"))!;
      expect(current.status).toMatchObject({ succeeded: 5, active: 0, failed: 0, health: "Healthy" });
      expect(conditionsOf(current)).toContainEqual(expect.objectContaining({ type: "Complete", status: "True" }));
    }, 90_000);
    const running = await sampler.stop();
    expect(Math.max(...running)).toBe(2);
    const pods = await podsOf((await job("five"))!);
    expect(pods.map(phase)).toEqual(Array(5).fill("Succeeded")); // finished pods are kept
    expect(await processesOnNodes()).toBe(0);
  }, 120_000);

  it("a failing Job retries after the back-off, then fails with BackoffLimitExceeded", async () => {
    await cluster.commit({ "fails.yaml": jobManifest("fails", "  backoffLimit: 1", node("process.exit(3)")) }, "a job that fails");
    await eventually(async () => {
      const current = (await job("fails"))!;
      expect(conditionsOf(current)).toContainEqual(expect.objectContaining({ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }));
      expect(current.status).toMatchObject({ failed: 2, succeeded: 0, health: "Degraded" });
    }, 60_000);
    const pods = await podsOf((await job("fails"))!);
    expect(pods.map(phase)).toEqual(["Failed", "Failed"]);
    const exitCodes = pods.map((pod) => (pod.status as { containerStatuses: { state: { terminated?: { exitCode: number } } }[] }).containerStatuses[0]!.state.terminated?.exitCode);
    expect(exitCodes).toEqual([3, 3]);
  }, 90_000);

  it("restartPolicy OnFailure: the agent restarts the container in place, and the restarts count against backoffLimit", async () => {
    await cluster.commit({ "flaky.yaml": jobManifest("flaky", "  backoffLimit: 1", node("process.exit(1)"), "OnFailure") }, "a job restarted in place");
    await eventually(async () => {
      const current = (await job("flaky"))!;
      expect(conditionsOf(current)).toContainEqual(expect.objectContaining({ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }));
      expect(await podsOf(current)).toEqual([]); // the restarting pod is deleted with the Job's failure
    }, 60_000);
    // One pod, restarted by its agent: the Job never made a second.
    const created = (await cluster.store.listEvents({ kind: "Job", name: "flaky", limit: 100 })).filter((event) => event.reason === "SuccessfulCreate");
    expect(created.reduce((sum, event) => sum + event.count, 0)).toBe(1);
    await eventually(async () => expect(await processesOnNodes()).toBe(0), 20_000);
  }, 90_000);

  it("activeDeadlineSeconds: DeadlineExceeded, and the running process is stopped", async () => {
    await cluster.commit({ "slow.yaml": jobManifest("slow", "  activeDeadlineSeconds: 3", node("setTimeout(() => {}, 600000)")) }, "a job too slow");
    await eventually(async () => expect(await processesOnNodes()).toBe(1), 30_000);
    await eventually(async () => {
      const current = (await job("slow"))!;
      expect(conditionsOf(current)).toContainEqual(expect.objectContaining({ type: "Failed", status: "True", reason: "DeadlineExceeded" }));
      expect(await podsOf(current)).toEqual([]);
    }, 30_000);
    await eventually(async () => expect(await processesOnNodes()).toBe(0), 20_000);
  }, 90_000);

  it("an Indexed Job's pods each see their index (JOB_COMPLETION_INDEX)", async () => {
    const write = `require('fs').writeFileSync(require('path').join(${JSON.stringify(outDir())}, 'index-' + process.env.JOB_COMPLETION_INDEX), process.env.JOB_COMPLETION_INDEX)`;
    await cluster.commit({ "indexed.yaml": jobManifest("indexed", "  completionMode: Indexed\n  completions: 3\n  parallelism: 3", node(write)) }, "an indexed job");
    await eventually(async () => {
      const current = (await job("indexed"))!;
      expect(current.status).toMatchObject({ succeeded: 3, completedIndexes: "0-2" });
    }, 60_000);
    expect((await readdir(outDir())).sort()).toEqual(["index-0", "index-1", "index-2"]);
    for (const index of [0, 1, 2]) expect(await readFile(join(outDir(), `index-${index}`), "utf8")).toBe(String(index));
    const names = (await podsOf((await job("indexed"))!)).map((pod) => pod.name).sort();
    expect(names.map((name) => name.replace(/-[a-z0-9]{5}$/, ""))).toEqual(["indexed-0", "indexed-1", "indexed-2"]);
  }, 90_000);

  it("a CronJob `* * * * *` makes a Job at the minute, and the Job runs to completion", async () => {
    const minute = clock.jumpToBeforeNextMinute(4_000);
    await cluster.commit(
      {
        "cron.yaml": `apiVersion: batch/v1
kind: CronJob
metadata: { name: tick }
spec:
  schedule: "* * * * *"
  timeZone: UTC
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{ name: tick, command: ${node("setTimeout(() => {}, 500)")} }]
`,
      },
      "a cron job",
    );
    const jobName = `tick-${minute.getTime() / 60_000}`;
    await eventually(async () => {
      const made = await job(jobName);
      expect(made).not.toBeNull();
      expect(conditionsOf(made!)).toContainEqual(expect.objectContaining({ type: "Complete", status: "True" }));
    }, 60_000);
    await eventually(async () => {
      const cronJob = (await cluster.store.getObject({ kind: "CronJob", namespace: "default", name: "tick" }))!;
      expect(cronJob.status).toMatchObject({
        lastScheduleTime: minute.toISOString(),
        lastRun: { job: jobName, outcome: "Complete" },
        nextScheduleTime: expect.any(String),
      });
    }, 20_000);
  }, 90_000);
});
