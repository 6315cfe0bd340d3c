import { describe, expect, it } from "vitest";
import { volumeBindingFilter, volumeNodeConflictReason } from "../../src/scheduler/filters/volume-binding.ts";
import { defaultStack, schedule } from "../../src/scheduler/index.ts";
import { node, pod, verdict } from "./fixtures.ts";

const claimVolume = { volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-kv-0" } }] };

describe("volumeBinding: a claim bound to a node pins its pods there", () => {
  const cases = [
    { name: "no claims: every node", subject: pod("p"), on: "a", reason: undefined },
    { name: "a claim not yet bound: every node", subject: pod("p", claimVolume, { boundClaims: [] }), on: "a", reason: undefined },
    { name: "a claim bound to this node", subject: pod("p", claimVolume, { boundClaims: [{ claim: "data-kv-0", node: "a" }] }), on: "a", reason: undefined },
    { name: "a claim bound to another node", subject: pod("p", claimVolume, { boundClaims: [{ claim: "data-kv-0", node: "b" }] }), on: "a", reason: volumeNodeConflictReason },
    {
      name: "two claims on two nodes: no node has both",
      subject: pod("p", claimVolume, { boundClaims: [{ claim: "x", node: "a" }, { claim: "y", node: "b" }] }),
      on: "a",
      reason: volumeNodeConflictReason,
    },
  ];
  it.each(cases)("$name", ({ subject, on, reason }) => expect(verdict(volumeBindingFilter, subject, node(on))).toBe(reason));

  it("is in the default stack, and its reason is what the pod reads when the claim's node is out", () => {
    const subject = pod("p", claimVolume, { boundClaims: [{ claim: "data-kv-0", node: "b" }] });
    const result = schedule(subject, [node("a"), node("b", { ready: false }), node("c")], defaultStack());
    expect(result.node).toBeUndefined();
    expect(result.message).toBe("0/3 nodes are available: 2 node(s) had volume node affinity conflict, 1 node(s) were not ready.");
    expect(schedule(subject, [node("a"), node("b"), node("c")], defaultStack()).node).toBe("b");
  });
});
