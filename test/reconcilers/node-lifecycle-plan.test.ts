import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { planEvictions } from "../../src/reconcilers/node-lifecycle-plan.ts";
import { storedObject } from "../helpers/stored-object.ts";

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));

function object(kind: string, name: string, fields: Partial<StoredObject> = {}): StoredObject {
  return storedObject({ kind, name, uid: `${kind}-${name}`, namespace: kind === "Node" ? "" : "default", specHash: "h", ...fields });
}

const node = (ready: "True" | "False" | "Unknown", since: number) =>
  object("Node", "n1", { status: { conditions: [{ type: "Ready", status: ready, lastTransitionTime: at(since).toISOString() }] } });
const pod = (name: string, tolerations: unknown[] = [], nodeName = "n1") =>
  object("Pod", name, { spec: { nodeName, containers: [{ name: "c" }], tolerations }, ownerUid: "rs" });

describe("planEvictions", () => {
  it.each([
    { case: "ready node: nothing", ready: "True" as const, now: 100, evicted: [], requeue: undefined },
    { case: "unreachable for less than the grace: wait for the rest of it", ready: "Unknown" as const, now: 3, evicted: [], requeue: 2_000 },
    { case: "unreachable for the grace: evict", ready: "Unknown" as const, now: 5, evicted: ["a", "b"], requeue: undefined },
    { case: "not ready for the grace: evict", ready: "False" as const, now: 9, evicted: ["a", "b"], requeue: undefined },
  ])("$case", ({ ready, now, evicted, requeue }) => {
    const plan = planEvictions(node(ready, 0), [pod("a"), pod("b"), pod("elsewhere", [], "n2")], at(now), 5_000, 1);
    expect(plan.evict.map((entry) => entry.pod.name)).toEqual(evicted);
    expect(plan.requeueAfterMs).toBe(requeue);
  });

  it("evicts nothing when no other node is ready, or when this control plane has not tried the node yet", () => {
    expect(planEvictions(node("Unknown", 0), [pod("a")], at(60), 5_000, 0)).toEqual({ evict: [], requeueAfterMs: 5_000 });
    const untried = object("Node", "n1", {
      status: { conditions: [{ type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", lastTransitionTime: at(0).toISOString() }] },
    });
    expect(planEvictions(untried, [pod("a")], at(60), 5_000, 2)).toEqual({ evict: [] });
  });

  it("honours tolerations of the unreachable taint: for ever without tolerationSeconds, else for that long", () => {
    const forever = pod("forever", [{ key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" }]);
    const minute = pod("minute", [{ key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 60 }]);
    const notReadyOnly = pod("not-ready-only", [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" }]);
    const early = planEvictions(node("Unknown", 0), [forever, minute, notReadyOnly], at(10), 5_000, 1);
    expect(early.evict.map((entry) => entry.pod.name)).toEqual(["not-ready-only"]);
    expect(early.requeueAfterMs).toBe(50_000);
    const late = planEvictions(node("Unknown", 0), [forever, minute], at(60), 5_000, 1);
    expect(late.evict.map((entry) => entry.pod.name)).toEqual(["minute"]);
    expect(late.requeueAfterMs).toBeUndefined();
  });
});
