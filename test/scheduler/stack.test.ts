import { describe, expect, it } from "vitest";
import { defaultStack } from "../../src/scheduler/index.ts";

/** The stack is the scheduler's one statement of policy; these pin it so a change to it is a deliberate one. */
describe("defaultStack", () => {
  it("runs the cheap, lasting node checks first and the cluster-wide pod checks last", () => {
    expect(defaultStack().filters.map((filter) => filter.name)).toEqual([
      "nodeName",
      "nodeReady",
      "nodeUnschedulable",
      "runtime",
      "nodeAffinity",
      "taintToleration",
      "volumeBinding",
      "resourcesFit",
      "nodePorts",
      "podAffinity",
      "podAntiAffinity",
    ]);
  });

  it("spreads by default: least allocated, replicas apart", () => {
    const weights = Object.fromEntries(defaultStack().scorers.map(({ scorer, weight }) => [scorer.name, weight]));
    expect(weights).toEqual({ leastAllocated: 1, ownerSpread: 2, nodeAffinity: 2, podAffinity: 2, taintToleration: 3 });
  });

  it("binpacks on request: most allocated, without replica spreading", () => {
    const weights = Object.fromEntries(defaultStack({ strategy: "binpack" }).scorers.map(({ scorer, weight }) => [scorer.name, weight]));
    expect(weights).toEqual({ mostAllocated: 1, nodeAffinity: 2, podAffinity: 2, taintToleration: 3 });
  });
});
