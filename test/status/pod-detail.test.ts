import { describe, expect, it } from "vitest";
import { podDetail, podDetailSchema } from "../../src/status/index.ts";
import { storedObject } from "../helpers/stored-object.ts";

/** podDetail's `lastError`: the line a detail page shows first for a broken pod, from the statuses the node link and the scheduler write. */

const pod = (status: Record<string, unknown>) => storedObject({ kind: "Pod", name: "web-1", spec: { nodeName: "n1", containers: [] }, status });
const container = (fields: Record<string, unknown>) => ({ name: "web", runtime: "process", ready: false, started: false, restartCount: 0, ports: {}, ...fields });
const exited = (exitCode: number | null, reason: string, message?: string) => ({ terminated: { exitCode, reason, finishedAt: "2026-11-23T10:00:00Z", ...(message ? { message } : {}) } });

describe("a pod's last error", () => {
  it.each([
    { case: "a healthy running pod", status: { phase: "Running", ready: true, containerStatuses: [container({ ready: true, state: { running: { startedAt: "t" } } })] }, lastError: null },
    { case: "the pod's own message first", status: { phase: "Failed", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" }, lastError: "DeadlineExceeded: Job was active longer than specified deadline" },
    {
      case: "a container waiting with a message",
      status: { phase: "Pending", containerStatuses: [container({ state: { waiting: { reason: "CreateContainerConfigError", message: 'secret "db" not found' } } })] },
      lastError: 'web: CreateContainerConfigError: secret "db" not found',
    },
    { case: "a container that exited non-zero", status: { phase: "Failed", containerStatuses: [container({ state: exited(2, "Error") })] }, lastError: "web: Error: exit code 2" },
    { case: "a container killed by a signal", status: { phase: "Failed", containerStatuses: [container({ state: exited(null, "OOMKilled", "killed by SIGKILL") })] }, lastError: "web: OOMKilled: killed by SIGKILL" },
    {
      case: "the previous run's failure while it runs again",
      status: { phase: "Running", containerStatuses: [container({ restartCount: 1, state: { running: { startedAt: "t" } }, lastState: exited(1, "Error") })] },
      lastError: "web: Error: exit code 1",
    },
    { case: "a container that completed", status: { phase: "Succeeded", containerStatuses: [container({ state: exited(0, "Completed") })] }, lastError: null },
    {
      case: "a pod no node can take",
      status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/2 nodes are available: 2 Insufficient cpu" }] },
      lastError: "Unschedulable: 0/2 nodes are available: 2 Insufficient cpu",
    },
    { case: "a pod merely not ready", status: { phase: "Running", conditions: [{ type: "Ready", status: "False", reason: "ContainersNotReady" }] }, lastError: null },
  ])("$case: $lastError", ({ status, lastError }) => {
    const detail = podDetailSchema.parse(podDetail(pod(status)));
    expect(detail.lastError).toBe(lastError);
  });

  it("survives a malformed stored status instead of failing the whole page", () => {
    const detail = podDetailSchema.parse(podDetail(pod({ phase: "Running", containerStatuses: "garbage", conditions: [{ nope: true }], startTime: 7 })));
    expect(detail).toMatchObject({ containers: [], conditions: [], startTime: null, lastError: null });
  });
});
