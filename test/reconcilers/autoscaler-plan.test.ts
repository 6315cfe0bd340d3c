import { describe, expect, it } from "vitest";
import { horizontalPodAutoscalerKind, type StoredObject } from "../../src/desired/index.ts";
import { planAutoscaler, type AutoscalerPlan } from "../../src/reconcilers/autoscaler-plan.ts";
import type { PodCpuUsage } from "../../src/reconcilers/replica-calculator.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { storedObject } from "../helpers/stored-object.ts";

/**
 * planAutoscaler from tables: Kubernetes' replica calculator (tolerance,
 * unready and missing pods, requests), stabilization windows and the
 * min/max clamp, with time injected.
 */

const t0 = Date.parse("2026-01-01T12:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000);

// ---------------------------------------------------------------- fixtures

function autoscaler(spec: Record<string, unknown> = {}, status: Record<string, unknown> = {}): StoredObject {
  const manifest = horizontalPodAutoscalerKind.schema.parse({
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
      minReplicas: 1,
      maxReplicas: 10,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 50 } } }],
      // No windows unless a case is about them, so each case shows the raw calculation.
      behavior: { scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 0 } },
      ...spec,
    },
  });
  return storedObject({ kind: "HorizontalPodAutoscaler", apiVersion: "autoscaling/v2", name: "web", spec: horizontalPodAutoscalerKind.specOf(manifest), status, source: "git" });
}

function target(replicas: number): StoredObject {
  return storedObject({ kind: "Deployment", apiVersion: "apps/v1", name: "web", spec: { replicas, selector: { matchLabels: { app: "web" } } }, source: "git" });
}

interface PodOptions {
  /** Millicores the agent last sampled; undefined = no sample. */
  cpu?: number;
  request?: string | null;
  ready?: boolean;
  /** Seconds before now the pod started and turned ready (default: long ago). */
  startedAgo?: number;
  readyAgo?: number;
  phase?: "Pending" | "Running" | "Failed";
  deleting?: boolean;
}

interface Pods {
  pods: StoredObject[];
  usage: Map<string, PodCpuUsage>;
}

function pods(now: Date, ...options: PodOptions[]): Pods {
  const usage = new Map<string, PodCpuUsage>();
  const list = options.map((option, index) => {
    const ready = option.ready ?? true;
    const started = new Date(now.getTime() - (option.startedAgo ?? 3600) * 1000);
    const readySince = new Date(now.getTime() - (option.readyAgo ?? option.startedAgo ?? 3600) * 1000);
    const request = option.request === undefined ? "100m" : option.request;
    const pod = storedObject({
      kind: "Pod",
      name: `web-${index}`,
      labels: { app: "web" },
      spec: { containers: [{ name: "web", command: ["web"], ...(request === null ? {} : { resources: { requests: { cpu: request } } }) }], nodeName: "n1" },
      status: {
        phase: option.phase ?? "Running",
        ready,
        startTime: started.toISOString(),
        conditions: [{ type: "Ready", status: ready ? "True" : "False", lastTransitionTime: (ready ? readySince : started).toISOString() }],
      },
      deletedAt: option.deleting ? now : null,
    });
    if (option.cpu !== undefined) usage.set(pod.uid, { containers: [{ name: "web", cpuMillis: option.cpu }] });
    return pod;
  });
  return { pods: list, usage };
}

function plan(hpa: StoredObject, replicas: number | null, now: Date, world: Pods, contenders: string[] = []): AutoscalerPlan {
  return planAutoscaler({ autoscaler: hpa, target: replicas === null ? null : target(replicas), ...world, contenders, now });
}

const condition = (result: AutoscalerPlan, type: string) => result.status.conditions.find((entry) => entry.type === type);
const busy = (cpu: number, count: number): PodOptions[] => Array.from({ length: count }, () => ({ cpu }));

// ---------------------------------------------------------------- the calculation

describe("planAutoscaler: desired = ceil(current × utilization / target)", () => {
  const now = at(0);
  const cases: { name: string; spec?: Record<string, unknown>; gitReplicas: number; pods: PodOptions[]; desired: number; utilization?: number; limited?: string }[] = [
    { name: "scales up when the pods use four times the target", gitReplicas: 2, pods: busy(200, 2), desired: 8, utilization: 200, limited: "DesiredWithinRange" },
    { name: "stays within the 10% tolerance (54% of a 50% target)", gitReplicas: 2, pods: busy(54, 2), desired: 2, utilization: 54 },
    { name: "moves just outside it (56%)", gitReplicas: 2, pods: busy(56, 2), desired: 3, utilization: 56 },
    { name: "scales down when the pods idle", gitReplicas: 4, pods: busy(10, 4), desired: 1, utilization: 10 },
    { name: "is clamped to maxReplicas", spec: { maxReplicas: 5 }, gitReplicas: 2, pods: busy(1000, 2), desired: 5, limited: "TooManyReplicas" },
    { name: "is clamped to minReplicas", spec: { minReplicas: 2 }, gitReplicas: 4, pods: busy(0, 4), desired: 2, limited: "TooFewReplicas" },
    {
      name: "ignores terminating and failed pods",
      gitReplicas: 2,
      pods: [{ cpu: 100 }, { cpu: 100 }, { cpu: 0, deleting: true }, { cpu: 0, phase: "Failed", ready: false }],
      desired: 4,
      utilization: 100,
    },
    {
      name: "counts unready pods as 0% on a scale-up: one hot pod among starting ones does not scale",
      spec: { metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 100 } } }] },
      gitReplicas: 4,
      pods: [{ cpu: 120 }, { cpu: 0, ready: false }, { ready: false }, { phase: "Pending", ready: false }],
      desired: 4,
      utilization: 120,
    },
    { name: "leaves unready pods out of a scale-down", gitReplicas: 4, pods: [...busy(10, 2), { cpu: 0, ready: false }, { ready: false, phase: "Pending" }], desired: 1 },
    { name: "counts pods without a sample as 100% on a scale-down, which holds it", gitReplicas: 4, pods: [...busy(5, 2), {}, {}], desired: 4, utilization: 5 },
    { name: "counts pods without a sample as 0% on a scale-up, which holds it back", gitReplicas: 4, pods: [...busy(60, 2), {}, {}], desired: 4, utilization: 60 },
    {
      name: "distrusts a young pod's sample until it has been ready a whole metric window (the agent's first sample reads 0)",
      gitReplicas: 2,
      pods: [{ cpu: 50 }, { cpu: 0, startedAgo: 12, readyAgo: 10 }],
      desired: 2,
      utilization: 50,
    },
    { name: "trusts it once it has been ready longer", gitReplicas: 2, pods: [{ cpu: 50 }, { cpu: 0, startedAgo: 60, readyAgo: 40 }], desired: 1, utilization: 25 },
    {
      name: "targets an AverageValue in millicores per pod",
      spec: { metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "AverageValue", averageValue: "100m" } } }] },
      gitReplicas: 2,
      pods: [{ cpu: 300, request: null }, { cpu: 300, request: null }],
      desired: 6,
    },
  ];

  it.each(cases)("$name", ({ spec, gitReplicas, pods: podOptions, desired, utilization, limited }) => {
    const result = plan(autoscaler(spec), gitReplicas, now, pods(now, ...podOptions));
    expect(result.status).toMatchObject({ currentReplicas: gitReplicas, desiredReplicas: desired, health: "Healthy" });
    expect(condition(result, "ScalingActive")).toMatchObject({ status: "True", reason: "ValidMetricFound" });
    if (utilization !== undefined) expect(result.status.currentMetrics[0]!.resource.current.averageUtilization).toBe(utilization);
    if (limited) expect(condition(result, "ScalingLimited")).toMatchObject({ status: limited === "DesiredWithinRange" ? "False" : "True", reason: limited });
    expect(result.status.lastScaleTime).toBe(desired === gitReplicas ? undefined : now.toISOString());
    expect(result.events).toEqual(desired === gitReplicas ? [] : [expect.objectContaining({ type: "Normal", reason: "SuccessfulRescale", message: expect.stringContaining(`New size: ${desired}`) })]);
    expect(result.requeueAfterMs).toBe(15_000);
  });

  it("reports the average use in millicores beside the utilization", () => {
    const result = plan(autoscaler(), 2, now, pods(now, { cpu: 150 }, { cpu: 50 }));
    expect(result.status.currentMetrics).toEqual([{ type: "Resource", resource: { name: "cpu", current: { averageUtilization: 100, averageValue: "100m" } } }]);
  });
});

describe("planAutoscaler: when it cannot or may not scale", () => {
  const now = at(0);

  it.each([
    { name: "a container without a cpu request", pods: [{ cpu: 100 }, { cpu: 100, request: null }], message: /missing request for cpu in container web of Pod web-1/ },
    { name: "no samples at all", pods: [{}, {}], message: /did not receive metrics for targeted pods/ },
    { name: "no pods", pods: [], message: /no pods returned by selector/ },
  ])("$name: ScalingActive False (FailedGetResourceMetric), replicas kept", ({ pods: podOptions, message }) => {
    const result = plan(autoscaler(), 2, now, pods(now, ...podOptions));
    expect(condition(result, "ScalingActive")).toMatchObject({ status: "False", reason: "FailedGetResourceMetric", message: expect.stringMatching(message) });
    expect(result.status).toMatchObject({ desiredReplicas: 2, health: "Degraded", currentMetrics: [] });
    expect(result.events).toEqual([expect.objectContaining({ type: "Warning", reason: "FailedGetResourceMetric" })]);
    // The same failure again is not a new event.
    expect(plan(autoscaler({}, result.status), 2, at(15), pods(at(15), ...podOptions)).events).toEqual([]);
  });

  it("says so when the target does not exist", () => {
    const result = plan(autoscaler(), null, now, { pods: [], usage: new Map() });
    expect(condition(result, "AbleToScale")).toMatchObject({ status: "False", reason: "FailedGetScale", message: expect.stringContaining("Deployment/web not found") });
    expect(result.status.health).toBe("Degraded");
    // No count is decided for it, so a workload created later under that name starts from Git's replicas, not 0.
    expect(result.status).not.toHaveProperty("desiredReplicas");
  });

  it("lets none of several autoscalers of one workload scale it", () => {
    const result = plan(autoscaler(), 2, now, pods(now, ...busy(200, 2)), ["web-too"]);
    expect(condition(result, "ScalingActive")).toMatchObject({ status: "False", reason: "AmbiguousSelector", message: expect.stringContaining("web-too") });
    expect(result.status.desiredReplicas).toBe(2);
  });

  it("is off while Git's replicas is 0 and it has not decided yet, as Kubernetes disables scaling at 0", () => {
    const result = plan(autoscaler(), 0, now, pods(now));
    expect(condition(result, "ScalingActive")).toMatchObject({ status: "False", reason: "ScalingDisabled" });
    expect(result.status).toMatchObject({ desiredReplicas: 0, health: "Suspended" });
  });

  it.each([
    { gitReplicas: 12, desired: 10, reason: "TooManyReplicas" },
    { gitReplicas: 1, desired: 3, reason: "TooFewReplicas" },
  ])("brings replicas from outside [min, max] inside first ($gitReplicas → $desired)", ({ gitReplicas, desired, reason }) => {
    const result = plan(autoscaler({ minReplicas: 3 }), gitReplicas, now, pods(now, ...busy(50, gitReplicas)));
    expect(result.status).toMatchObject({ currentReplicas: gitReplicas, desiredReplicas: desired, lastScaleTime: now.toISOString() });
    expect(condition(result, "ScalingLimited")).toMatchObject({ status: "True", reason });
  });
});

// ---------------------------------------------------------------- over time

describe("planAutoscaler over time", () => {
  /** Runs passes at the clock's times, each on the status the previous one wrote, as the reconciler does. */
  function passes(spec: Record<string, unknown>, gitReplicas: number) {
    const clock = new ManualClock(at(0));
    let status: Record<string, unknown> = {};
    return {
      clock,
      async pass(afterSeconds: number, cpuPerPod: number): Promise<AutoscalerPlan> {
        await clock.advance(afterSeconds * 1000);
        const replicas = (status["desiredReplicas"] as number | undefined) ?? gitReplicas;
        const result = plan(autoscaler(spec, status), gitReplicas, clock.now(), pods(clock.now(), ...busy(cpuPerPod, replicas)));
        status = result.status;
        return result;
      },
    };
  }

  it("holds a scale-down for the 5-minute default window, on the highest recent recommendation, then applies it", async () => {
    const run = passes({ behavior: {} }, 4);
    expect((await run.pass(0, 50)).status.desiredReplicas).toBe(4); // at target
    const held = await run.pass(15, 10); // load gone: the metric asks for 1
    expect(held.status.desiredReplicas).toBe(4);
    expect(condition(held, "AbleToScale")).toMatchObject({ status: "True", reason: "ScaleDownStabilized" });
    expect(held.status.recommendations).toEqual([
      { replicas: 4, timestamp: at(0).toISOString() },
      { replicas: 1, timestamp: at(15).toISOString() },
    ]);
    expect((await run.pass(284, 10)).status.desiredReplicas).toBe(4); // t = 299 s: the 4 of t = 0 is still in the window
    const applied = await run.pass(2, 10); // t = 301 s
    expect(applied.status).toMatchObject({ desiredReplicas: 1, lastScaleTime: at(301).toISOString() });
    // Only recommendations still inside the window are kept, and of equal ones the newest.
    expect(applied.status.recommendations).toEqual([{ replicas: 1, timestamp: at(301).toISOString() }]);
  });

  it("waits a whole window after it first appears before scaling down (Kubernetes' initial recommendation)", async () => {
    const run = passes({ behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } }, 4);
    expect((await run.pass(0, 0)).status.desiredReplicas).toBe(4);
    expect((await run.pass(59, 0)).status.desiredReplicas).toBe(4);
    expect((await run.pass(2, 0)).status.desiredReplicas).toBe(1);
  });

  it("counts its first pass with a target as the first sight, even after passes without one", () => {
    const spec = { behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } };
    const missing = plan(autoscaler(spec), null, at(0), { pods: [], usage: new Map() });
    const first = plan(autoscaler(spec, missing.status), 4, at(15), pods(at(15), ...busy(0, 4)));
    expect(first.status.desiredReplicas).toBe(4);
    expect(first.status.recommendations).toContainEqual({ replicas: 4, timestamp: at(15).toISOString() });
  });

  it("scales up at once by default, and holds a scale-up for a scale-up window when one is set", async () => {
    const immediate = passes({}, 2);
    expect((await immediate.pass(0, 100)).status.desiredReplicas).toBe(4);

    const windowed = passes({ behavior: { scaleUp: { stabilizationWindowSeconds: 60 }, scaleDown: { stabilizationWindowSeconds: 0 } } }, 2);
    const held = await windowed.pass(0, 100);
    expect(held.status.desiredReplicas).toBe(2); // the initial recommendation of 2 is the lowest in the window
    expect(condition(held, "AbleToScale")).toMatchObject({ reason: "ScaleUpStabilized" });
    expect((await windowed.pass(30, 100)).status.desiredReplicas).toBe(2);
    expect((await windowed.pass(31, 100)).status.desiredReplicas).toBe(4);
  });

  it("ignores Git's replicas once it has decided: its own last decision is the current size", async () => {
    const run = passes({}, 2);
    expect((await run.pass(0, 200)).status.desiredReplicas).toBe(8);
    const next = await run.pass(15, 50);
    expect(next.status).toMatchObject({ currentReplicas: 8, desiredReplicas: 8 });
  });

  it("starts afresh when its scaleTargetRef names another workload", () => {
    const previous = { scaleTarget: "Deployment/api", desiredReplicas: 9, currentReplicas: 9, recommendations: [{ replicas: 9, timestamp: at(0).toISOString() }] };
    const result = plan(autoscaler({}, previous), 2, at(15), pods(at(15), ...busy(50, 2)));
    expect(result.status).toMatchObject({ scaleTarget: "Deployment/web", currentReplicas: 2, desiredReplicas: 2 });
  });

  it("keeps a condition's transition time while its status holds", async () => {
    const run = passes({}, 2);
    await run.pass(0, 50);
    const later = await run.pass(15, 200);
    expect(condition(later, "ScalingActive")).toMatchObject({ status: "True", lastTransitionTime: at(0).toISOString() });
  });
});
