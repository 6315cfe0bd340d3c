import { describe, expect, it } from "vitest";
import { accept, expectIssue, variant, type InvalidCase } from "./expect.ts";

const autoscaler = {
  apiVersion: "autoscaling/v2",
  kind: "HorizontalPodAutoscaler",
  metadata: { name: "web", namespace: "shop" },
  spec: {
    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
    maxReplicas: 5,
    metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 50 } } }],
  },
};

describe("HorizontalPodAutoscaler", () => {
  it("is accepted with the Kubernetes defaults applied", () => {
    const parsed = accept("HorizontalPodAutoscaler", autoscaler);
    expect(parsed.spec).toEqual({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 50 } } }],
      behavior: { scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 300 } },
    });
  });

  it("targets 80% of the CPU requested when no metric is given, as Kubernetes does", () => {
    for (const metrics of [undefined, []]) {
      const parsed = accept("HorizontalPodAutoscaler", variant(autoscaler, (a) => (a.spec.metrics = metrics)));
      expect(parsed.spec.metrics).toEqual([{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } } }]);
    }
  });

  it("accepts an AverageValue target, a StatefulSet, capstan.dev/v1 and one window given without the other", () => {
    const parsed = accept(
      "HorizontalPodAutoscaler",
      variant(autoscaler, (a) => {
        a.apiVersion = "capstan.dev/v1";
        a.spec.scaleTargetRef = { kind: "StatefulSet", name: "db" };
        a.spec.metrics[0].resource.target = { type: "AverageValue", averageValue: "250m" };
        a.spec.behavior = { scaleDown: { stabilizationWindowSeconds: 10 } };
      }),
    );
    expect(parsed.spec.scaleTargetRef).toEqual({ kind: "StatefulSet", name: "db" });
    expect(parsed.spec.metrics[0].resource.target).toEqual({ type: "AverageValue", averageValue: "250m" });
    expect(parsed.spec.behavior).toEqual({ scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 10 } });
  });

  const cpuTarget = (target: unknown) => (a: any) => (a.spec.metrics[0].resource.target = target);

  const invalid: InvalidCase[] = [
    {
      name: "maxReplicas below minReplicas",
      manifest: variant(autoscaler, (a) => Object.assign(a.spec, { minReplicas: 6, maxReplicas: 5 })),
      path: ["spec", "maxReplicas"],
      message: /must be greater than or equal to minReplicas \(6\)/,
    },
    {
      name: "a missing maxReplicas",
      manifest: variant(autoscaler, (a) => delete a.spec.maxReplicas),
      path: ["spec", "maxReplicas"],
      message: /expected number/,
    },
    {
      name: "minReplicas of 0",
      manifest: variant(autoscaler, (a) => (a.spec.minReplicas = 0)),
      path: ["spec", "minReplicas"],
      message: /greater than or equal to 1/,
    },
    {
      name: "a target kind that cannot be scaled",
      manifest: variant(autoscaler, (a) => (a.spec.scaleTargetRef.kind = "DaemonSet")),
      path: ["spec", "scaleTargetRef", "kind"],
      message: /kind "DaemonSet" cannot be autoscaled: use one of Deployment, StatefulSet/,
    },
    {
      name: "a target apiVersion that serves no scalable kind",
      manifest: variant(autoscaler, (a) => (a.spec.scaleTargetRef.apiVersion = "v1")),
      path: ["spec", "scaleTargetRef", "apiVersion"],
      message: /does not serve a scalable kind/,
    },
    {
      name: "a target without a name",
      manifest: variant(autoscaler, (a) => delete a.spec.scaleTargetRef.name),
      path: ["spec", "scaleTargetRef", "name"],
      message: /is required/,
    },
    {
      name: "a memory metric",
      manifest: variant(autoscaler, (a) => (a.spec.metrics[0].resource.name = "memory")),
      path: ["spec", "metrics", 0, "resource", "name"],
      message: /resource "memory" is not supported: capstan autoscales on cpu only/,
    },
    {
      name: "an External metric",
      manifest: variant(autoscaler, (a) => (a.spec.metrics[0].type = "External")),
      path: ["spec", "metrics", 0, "type"],
      message: /metric type "External" is not supported/,
    },
    {
      name: "two metrics",
      manifest: variant(autoscaler, (a) => a.spec.metrics.push(structuredClone(a.spec.metrics[0]))),
      path: ["spec", "metrics"],
      message: /one metric/,
    },
    {
      name: "a Utilization target without averageUtilization",
      manifest: variant(autoscaler, cpuTarget({ type: "Utilization" })),
      path: ["spec", "metrics", 0, "resource", "target", "averageUtilization"],
      message: /is required when type is Utilization/,
    },
    {
      name: "a Utilization target that also gives averageValue",
      manifest: variant(autoscaler, cpuTarget({ type: "Utilization", averageUtilization: 50, averageValue: "100m" })),
      path: ["spec", "metrics", 0, "resource", "target", "averageValue"],
      message: /must not be set when type is Utilization/,
    },
    {
      name: "an averageUtilization of 0",
      manifest: variant(autoscaler, cpuTarget({ type: "Utilization", averageUtilization: 0 })),
      path: ["spec", "metrics", 0, "resource", "target", "averageUtilization"],
      message: /greater than or equal to 1/,
    },
    {
      name: "an AverageValue target of 0",
      manifest: variant(autoscaler, cpuTarget({ type: "AverageValue", averageValue: "0" })),
      path: ["spec", "metrics", 0, "resource", "target", "averageValue"],
      message: /must be greater than 0/,
    },
    {
      name: "an AverageValue that is not a quantity",
      manifest: variant(autoscaler, cpuTarget({ type: "AverageValue", averageValue: "lots" })),
      path: ["spec", "metrics", 0, "resource", "target", "averageValue"],
      message: /"lots" is not a quantity/,
    },
    {
      name: "a Value target, which a Resource metric cannot have",
      manifest: variant(autoscaler, cpuTarget({ type: "Value", value: "1" })),
      path: ["spec", "metrics", 0, "resource", "target", "type"],
      message: /cannot use a "Value" target/,
    },
    {
      name: "a stabilization window over an hour",
      manifest: variant(autoscaler, (a) => (a.spec.behavior = { scaleDown: { stabilizationWindowSeconds: 3601 } })),
      path: ["spec", "behavior", "scaleDown", "stabilizationWindowSeconds"],
      message: /less than or equal to 3600/,
    },
    {
      name: "scaling policies",
      manifest: variant(autoscaler, (a) => (a.spec.behavior = { scaleUp: { policies: [{ type: "Pods", value: 4, periodSeconds: 15 }] } })),
      path: ["spec", "behavior", "scaleUp", "policies"],
      message: /scaling policies are not supported/,
    },
    {
      name: "an apiVersion that does not serve HorizontalPodAutoscaler",
      manifest: variant(autoscaler, (a) => (a.apiVersion = "autoscaling/v1")),
      path: ["apiVersion"],
      message: /does not serve kind HorizontalPodAutoscaler: use one of autoscaling\/v2, capstan.dev\/v1/,
    },
    {
      name: "a status written in Git",
      manifest: variant(autoscaler, (a) => (a.status = { desiredReplicas: 3 })),
      path: ["status"],
      message: /status is written by capstan/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("HorizontalPodAutoscaler", manifest, path, message);
  });
});
