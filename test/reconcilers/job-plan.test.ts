import { describe, expect, it } from "vitest";
import { jobKind, validateFiles, type JobSpec, type StoredObject } from "../../src/desired/index.ts";
import { failureBackoffRemainingMs, planJob, type JobPlan } from "../../src/reconcilers/job-plan.ts";
import { completionIndexAnnotation, formatIndexes, jobPodFacts } from "../../src/reconcilers/job-pods.ts";
import { storedObject } from "../helpers/stored-object.ts";

const t0 = Date.parse("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

function jobSpec(spec: Record<string, unknown>, restartPolicy: "Never" | "OnFailure" = "Never"): JobSpec {
  const manifest = jobKind.schema.parse({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "pi" },
    spec: { template: { spec: { restartPolicy, containers: [{ name: "pi", command: ["/bin/true"] }] } }, ...spec },
  });
  return jobKind.specOf(manifest) as JobSpec;
}

function job(spec: Record<string, unknown>, status: Record<string, unknown> = {}, restartPolicy: "Never" | "OnFailure" = "Never"): StoredObject {
  return storedObject({ kind: "Job", apiVersion: "batch/v1", name: "pi", spec: jobSpec(spec, restartPolicy), status, createdAt: at(0) });
}

interface PodFixture {
  name: string;
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  /** Seconds after t0 when it finished. */
  finished?: number;
  restarts?: number;
  index?: number;
}

function pod(fixture: PodFixture): StoredObject {
  const terminated = fixture.finished === undefined ? {} : { terminated: { exitCode: fixture.phase === "Succeeded" ? 0 : 1, reason: "x", finishedAt: iso(fixture.finished) } };
  return storedObject({
    kind: "Pod",
    name: fixture.name,
    ownerUid: "uid-job-pi",
    annotations: fixture.index === undefined ? {} : { [completionIndexAnnotation]: String(fixture.index) },
    status: { phase: fixture.phase, containerStatuses: [{ restartCount: fixture.restarts ?? 0, state: terminated }] },
  });
}

const started = { startTime: iso(0), conditions: [] };
const summary = (plan: JobPlan) => ({
  creates: plan.actions.filter((a) => a.type === "createPod").length,
  deletes: plan.actions.filter((a) => a.type === "deletePod").map((a) => (a.type === "deletePod" ? a.name : "")),
  deleteJob: plan.actions.some((a) => a.type === "deleteJob"),
  conditions: plan.status.conditions.filter((c) => c.status === "True").map((c) => `${c.type}/${c.reason}`),
  health: plan.status.health,
  requeueAfterMs: plan.requeueAfterMs,
});

describe("planJob", () => {
  const cases: { name: string; job: StoredObject; pods: PodFixture[]; now: number; expect: Partial<ReturnType<typeof summary>> }[] = [
    { name: "a new Job starts one pod", job: job({}), pods: [], now: 0, expect: { creates: 1, conditions: [], health: "Progressing" } },
    { name: "completions 5 parallelism 2: two at a time", job: job({ completions: 5, parallelism: 2 }, started), pods: [], now: 1, expect: { creates: 2 } },
    {
      name: "parallelism never exceeds the work left",
      job: job({ completions: 5, parallelism: 2 }, started),
      pods: [1, 2, 3, 4].map((n) => ({ name: `s${n}`, phase: "Succeeded" as const, finished: n })).concat([]),
      now: 10,
      expect: { creates: 1 },
    },
    {
      name: "running pods at parallelism: nothing to create",
      job: job({ completions: 5, parallelism: 2 }, started),
      pods: [{ name: "a", phase: "Running" }, { name: "b", phase: "Pending" }],
      now: 1,
      expect: { creates: 0, deletes: [] },
    },
    {
      name: "enough successes: Complete, the straggler deleted",
      job: job({ completions: 2, parallelism: 3 }, started),
      pods: [{ name: "a", phase: "Succeeded", finished: 5 }, { name: "b", phase: "Succeeded", finished: 6 }, { name: "c", phase: "Running" }],
      now: 7,
      expect: { creates: 0, deletes: ["c"], conditions: ["Complete/Completed"], health: "Healthy" },
    },
    {
      name: "a work queue (parallelism only) is done when one pod succeeded and none runs",
      job: job({ parallelism: 2 }, started),
      pods: [{ name: "a", phase: "Succeeded", finished: 5 }, { name: "b", phase: "Succeeded", finished: 6 }],
      now: 7,
      expect: { conditions: ["Complete/Completed"] },
    },
    {
      name: "a work queue starts no new pod once one succeeded",
      job: job({ parallelism: 2 }, started),
      pods: [{ name: "a", phase: "Succeeded", finished: 5 }, { name: "b", phase: "Running" }],
      now: 7,
      expect: { creates: 0, deletes: [], conditions: [] },
    },
    {
      name: "Never: a failed pod is kept and replaced after 10 s",
      job: job({}, started),
      pods: [{ name: "a", phase: "Failed", finished: 5 }],
      now: 15,
      expect: { creates: 1, deletes: [] },
    },
    {
      name: "the first failure backs off 10 s",
      job: job({}, started),
      pods: [{ name: "a", phase: "Failed", finished: 5 }],
      now: 8,
      expect: { creates: 0, requeueAfterMs: 7000 },
    },
    {
      name: "the third failure backs off 40 s",
      job: job({}, started),
      pods: [{ name: "a", phase: "Failed", finished: 5 }, { name: "b", phase: "Failed", finished: 20 }, { name: "c", phase: "Failed", finished: 50 }],
      now: 60,
      expect: { creates: 0, requeueAfterMs: 30_000 },
    },
    {
      name: "failures beyond backoffLimit: Failed with BackoffLimitExceeded",
      job: job({ backoffLimit: 2, completions: 3, parallelism: 2 }, started),
      pods: [{ name: "a", phase: "Failed", finished: 1 }, { name: "b", phase: "Failed", finished: 2 }, { name: "c", phase: "Failed", finished: 3 }, { name: "d", phase: "Running" }],
      now: 4,
      expect: { creates: 0, deletes: ["d"], conditions: ["Failed/BackoffLimitExceeded"], health: "Degraded" },
    },
    {
      name: "failures up to backoffLimit still retry",
      job: job({ backoffLimit: 2 }, started),
      pods: [{ name: "a", phase: "Failed", finished: 1 }, { name: "b", phase: "Failed", finished: 2 }],
      now: 100,
      expect: { creates: 1, conditions: [] },
    },
    {
      name: "OnFailure: restarts in place count against backoffLimit",
      job: job({ backoffLimit: 3 }, started, "OnFailure"),
      pods: [{ name: "a", phase: "Running", restarts: 3 }],
      now: 100,
      expect: { deletes: ["a"], conditions: ["Failed/BackoffLimitExceeded"] },
    },
    {
      name: "OnFailure with backoffLimit 0: one restart fails the Job",
      job: job({ backoffLimit: 0 }, started, "OnFailure"),
      pods: [{ name: "a", phase: "Running", restarts: 1 }],
      now: 100,
      expect: { conditions: ["Failed/BackoffLimitExceeded"] },
    },
    {
      name: "OnFailure: fewer restarts keep running",
      job: job({ backoffLimit: 3 }, started, "OnFailure"),
      pods: [{ name: "a", phase: "Running", restarts: 2 }],
      now: 100,
      expect: { deletes: [], conditions: [] },
    },
    {
      name: "activeDeadlineSeconds passed: DeadlineExceeded, active pods deleted",
      job: job({ activeDeadlineSeconds: 30 }, started),
      pods: [{ name: "a", phase: "Running" }],
      now: 30,
      expect: { deletes: ["a"], conditions: ["Failed/DeadlineExceeded"] },
    },
    {
      name: "before the deadline: requeued for it",
      job: job({ activeDeadlineSeconds: 30 }, started),
      pods: [{ name: "a", phase: "Running" }],
      now: 10,
      expect: { deletes: [], conditions: [], requeueAfterMs: 20_000 },
    },
    {
      name: "suspend deletes the active pods, keeps the finished",
      job: job({ suspend: true, completions: 3, parallelism: 2 }, started),
      pods: [{ name: "a", phase: "Running" }, { name: "b", phase: "Succeeded", finished: 2 }],
      now: 10,
      expect: { creates: 0, deletes: ["a"], conditions: ["Suspended/JobSuspended"], health: "Suspended" },
    },
    {
      name: "resumed: pods again, the deadline counted from the resume",
      job: job({ activeDeadlineSeconds: 30 }, { startTime: null, conditions: [{ type: "Suspended", status: "True", reason: "JobSuspended", message: "", lastTransitionTime: iso(0) }] }),
      pods: [],
      now: 100,
      expect: { creates: 1, conditions: [], requeueAfterMs: 30_000 },
    },
    {
      name: "ttlSecondsAfterFinished not yet passed: requeued for it",
      job: job({ ttlSecondsAfterFinished: 60 }, { ...started, conditions: [{ type: "Complete", status: "True", reason: "Completed", message: "", lastTransitionTime: iso(10) }] }),
      pods: [{ name: "a", phase: "Succeeded", finished: 9 }],
      now: 30,
      expect: { deleteJob: false, requeueAfterMs: 40_000 },
    },
    {
      name: "ttlSecondsAfterFinished passed: the Job goes",
      job: job({ ttlSecondsAfterFinished: 60 }, { ...started, conditions: [{ type: "Failed", status: "True", reason: "DeadlineExceeded", message: "", lastTransitionTime: iso(10) }] }),
      pods: [],
      now: 70,
      expect: { deleteJob: true },
    },
    {
      name: "a finished Job without TTL stays, its pods kept",
      job: job({}, { ...started, conditions: [{ type: "Complete", status: "True", reason: "Completed", message: "", lastTransitionTime: iso(10) }] }),
      pods: [{ name: "a", phase: "Succeeded", finished: 9 }],
      now: 10_000,
      expect: { creates: 0, deletes: [], deleteJob: false, conditions: ["Complete/Completed"], requeueAfterMs: undefined },
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      const plan = planJob({ job: testCase.job, pods: testCase.pods.map(pod), now: at(testCase.now), nameSeed: "seed" });
      expect(summary(plan)).toMatchObject(testCase.expect);
    });
  }

  it("counts and times in the status", () => {
    const plan = planJob({
      job: job({ completions: 3, parallelism: 1 }, started),
      pods: [pod({ name: "a", phase: "Succeeded", finished: 3 }), pod({ name: "b", phase: "Failed", finished: 5 }), pod({ name: "c", phase: "Running" })],
      now: at(6),
      nameSeed: "seed",
    });
    expect(plan.status).toMatchObject({ active: 1, succeeded: 1, failed: 1, startTime: iso(0), completionTime: null });
  });

  it("sets startTime on the first pass and completionTime when complete", () => {
    expect(planJob({ job: job({}), pods: [], now: at(5), nameSeed: "s" }).status.startTime).toBe(iso(5));
    const done = planJob({ job: job({}, started), pods: [pod({ name: "a", phase: "Succeeded", finished: 8 })], now: at(9), nameSeed: "s" });
    expect(done.status.completionTime).toBe(iso(9));
    expect(done.events.map((e) => e.reason)).toEqual(["Completed"]);
  });

  it("names NonIndexed pods <job>-<suffix> with the Job's labels", () => {
    const plan = planJob({ job: job({ completions: 2, parallelism: 2 }, started), pods: [], now: at(1), nameSeed: "seed" });
    const names = plan.actions.map((a) => (a.type === "createPod" ? a.name : ""));
    expect(names).toHaveLength(2);
    for (const name of names) expect(name).toMatch(/^pi-[a-z0-9]{5}$/);
    const create = plan.actions[0]!;
    expect(create.type === "createPod" && create.template.metadata.labels).toMatchObject({ "batch.kubernetes.io/job-name": "pi", "job-name": "pi" });
  });
});

describe("planJob, Indexed", () => {
  const indexedJob = (status: Record<string, unknown> = started) => job({ completionMode: "Indexed", completions: 4, parallelism: 2 }, status);

  it("starts the lowest free indexes, named <job>-<index>-<suffix>, each seeing its index", () => {
    const plan = planJob({ job: indexedJob(), pods: [pod({ name: "pi-0-aaaaa", phase: "Succeeded", finished: 1, index: 0 })], now: at(2), nameSeed: "s" });
    const creates = plan.actions.flatMap((a) => (a.type === "createPod" ? [a] : []));
    expect(creates.map((a) => a.index)).toEqual([1, 2]);
    expect(creates[0]!.name).toMatch(/^pi-1-[a-z0-9]{5}$/);
    expect(creates[0]!.template.metadata.annotations[completionIndexAnnotation]).toBe("1");
    expect(creates[0]!.template.spec.containers[0]!.env).toContainEqual({
      name: "JOB_COMPLETION_INDEX",
      valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
    });
    expect(plan.status.completedIndexes).toBe("0");
  });

  it("replaces a failed index and skips running ones", () => {
    const plan = planJob({
      job: indexedJob(),
      pods: [pod({ name: "pi-0-a", phase: "Failed", finished: 1, index: 0 }), pod({ name: "pi-1-b", phase: "Running", index: 1 })],
      now: at(20),
      nameSeed: "s",
    });
    expect(plan.actions.flatMap((a) => (a.type === "createPod" ? [a.index] : []))).toEqual([0]);
  });

  it("a second success of one index counts once; all indexes done is Complete", () => {
    const pods = [0, 1, 1, 2, 3].map((index, n) => pod({ name: `p${n}`, phase: "Succeeded", finished: n, index }));
    const plan = planJob({ job: indexedJob(), pods, now: at(9), nameSeed: "s" });
    expect(plan.status).toMatchObject({ succeeded: 4, completedIndexes: "0-3" });
    expect(plan.status.conditions.map((c) => c.type)).toEqual(["Complete"]);
  });

  it("deletes a running pod whose index already succeeded", () => {
    const pods = [pod({ name: "done", phase: "Succeeded", finished: 1, index: 0 }), pod({ name: "dup", phase: "Running", index: 0 })];
    const plan = planJob({ job: indexedJob(), pods, now: at(9), nameSeed: "s" });
    expect(plan.actions.filter((a) => a.type === "deletePod").map((a) => a.name)).toEqual(["dup"]);
  });
});

describe("job pod facts and formats", () => {
  it("compresses completed indexes as Kubernetes does", () => {
    expect(formatIndexes([0, 1, 2, 4, 6, 7])).toBe("0-2,4,6-7");
    expect(formatIndexes([])).toBe("");
    expect(formatIndexes([3])).toBe("3");
  });

  it("reads a pod nobody reported on as Pending and active", () => {
    const facts = jobPodFacts(storedObject({ kind: "Pod", name: "x" }));
    expect(facts).toMatchObject({ phase: "Pending", active: true, restarts: 0, finishedAt: null, index: null });
  });

  it("backs off 10 s doubling, capped at 6 minutes, forgetting failures before the last success", () => {
    const facts = (fixtures: PodFixture[]) => fixtures.map(pod).map(jobPodFacts);
    expect(failureBackoffRemainingMs(facts([{ name: "a", phase: "Failed", finished: 0 }]), at(0))).toBe(10_000);
    const many = Array.from({ length: 12 }, (_, n) => ({ name: `f${n}`, phase: "Failed" as const, finished: 0 }));
    expect(failureBackoffRemainingMs(facts(many), at(0))).toBe(360_000);
    expect(failureBackoffRemainingMs(facts([{ name: "a", phase: "Failed", finished: 0 }, { name: "b", phase: "Succeeded", finished: 1 }]), at(1))).toBe(0);
  });
});

describe("Job manifests", () => {
  it("refuses a name too long to be its pods' job-name label", () => {
    const manifest = (name: string) => `apiVersion: batch/v1
kind: Job
metadata: { name: ${name} }
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{ name: c, command: [/bin/true] }]
`;
    expect(validateFiles([{ path: "job.yaml", content: manifest("a".repeat(63)) }]).problems).toEqual([]);
    const problems = validateFiles([{ path: "job.yaml", content: manifest("a".repeat(64)) }]).problems;
    expect(problems.map((p) => `${p.line} ${p.path}`)).toEqual(["3 metadata.name"]);
  });
});
