import { describe, expect, it } from "vitest";
import { replacedPods } from "../../src/reconcilers/drift.ts";
import { newRestarts } from "../../src/nodes/client/restart-drift.ts";
import type { PodStatus } from "../../src/nodes/protocol.ts";
import { storedObject } from "../helpers/stored-object.ts";

const replicaSet = (wanted: number, hadActive: number, generation = 2, observedGeneration = 2) =>
  storedObject({ kind: "ReplicaSet", name: "web-1", generation, observedGeneration, spec: { replicas: wanted }, status: { replicas: hadActive } });

describe("replacedPods: creations that repair drift, not a scale-up or a rollout", () => {
  it.each([
    { case: "one pod deleted by hand out of 3", rs: replicaSet(3, 3), creates: 1, expected: 1 },
    { case: "a lost node's two pods evicted", rs: replicaSet(3, 3), creates: 2, expected: 2 },
    { case: "scaled from 3 to 5 (a new generation)", rs: replicaSet(5, 3, 3, 2), creates: 2, expected: 0 },
    { case: "a scale-up already observed, still creating", rs: replicaSet(5, 3), creates: 2, expected: 0 },
    { case: "one lost during a scale-up from 3 to 5", rs: replicaSet(5, 3), creates: 3, expected: 1 },
    { case: "nothing to create", rs: replicaSet(3, 3), creates: 0, expected: 0 },
    { case: "a new ReplicaSet's first pods", rs: storedObject({ kind: "ReplicaSet", name: "web-2", generation: 1, observedGeneration: 0, spec: { replicas: 2 } }), creates: 2, expected: 0 },
  ])("$case", ({ rs, creates, expected }) => {
    expect(replacedPods(rs, creates)).toBe(expected);
  });
});

function podStatus(uid: string, restartCount: number, lastState?: PodStatus["containerStatuses"][number]["lastState"]): PodStatus {
  return {
    uid,
    namespace: "default",
    name: `pod-${uid}`,
    phase: "Running",
    ready: true,
    initContainerStatuses: [],
    containerStatuses: [
      { name: "web", runtime: "process", state: { running: { startedAt: "2026-11-23T12:00:00Z" } }, ready: true, started: true, restartCount, ports: {}, ...(lastState ? { lastState } : {}) },
    ],
  } as PodStatus;
}

describe("newRestarts: agent-side restarts as drift repairs", () => {
  it("sets a baseline on first sight, then reports each increase with what ended the run", () => {
    const seen = new Map<string, Map<string, number>>();
    expect(newRestarts(seen, [podStatus("a", 4)], "node-1")).toEqual([]);
    expect(newRestarts(seen, [podStatus("a", 4)], "node-1")).toEqual([]);
    const killed = { terminated: { exitCode: null, signal: "SIGKILL", reason: "Error", finishedAt: "2026-11-23T12:00:01Z" } };
    expect(newRestarts(seen, [podStatus("a", 5, killed)], "node-1")).toEqual([
      { uid: "a", namespace: "default", name: "pod-a", message: "container web was killed by SIGKILL and was restarted on node node-1 (restart 5)" },
    ]);
    const exited = { terminated: { exitCode: 3, reason: "Error", finishedAt: "2026-11-23T12:00:02Z" } };
    expect(newRestarts(seen, [podStatus("a", 6, exited)], "node-1")[0]!.message).toBe("container web exited with code 3 and was restarted on node node-1 (restart 6)");
  });
});
