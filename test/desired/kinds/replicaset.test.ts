import { describe, expect, it } from "vitest";
import { accept, expectIssue, podTemplate, variant, type InvalidCase } from "./expect.ts";

const replicaSet = {
  apiVersion: "apps/v1",
  kind: "ReplicaSet",
  metadata: { name: "web-5d8f7c", namespace: "shop" },
  spec: {
    selector: { matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] },
    template: podTemplate({ app: "web", "pod-template-hash": "5d8f7c" }),
  },
};

describe("ReplicaSet", () => {
  it("is accepted with the Kubernetes defaults applied", () => {
    const parsed = accept("ReplicaSet", replicaSet);
    expect(parsed.spec).toMatchObject({ replicas: 1, minReadySeconds: 0 });
    expect(parsed.spec.template.spec.restartPolicy).toBe("Always");
  });

  const invalid: InvalidCase[] = [
    {
      name: "a selector expression the template's labels fail",
      manifest: variant(replicaSet, (r) => (r.spec.selector.matchExpressions[0].operator = "NotIn")),
      path: ["spec", "selector"],
      message: /selector does not match template labels/,
    },
    {
      name: "an In expression without values",
      manifest: variant(replicaSet, (r) => delete r.spec.selector.matchExpressions[0].values),
      path: ["spec", "selector", "matchExpressions", 0, "values"],
      message: /must be specified when operator is In/,
    },
    {
      name: "an unknown field in the template's metadata",
      manifest: variant(replicaSet, (r) => (r.spec.template.metadata.name = "web")),
      path: ["spec", "template", "metadata"],
      message: /Unrecognized key: "name"/,
    },
    {
      name: "a memory limit that is not a quantity",
      manifest: variant(replicaSet, (r) => (r.spec.template.spec.containers[0].resources = { limits: { memory: "1Gb" } })),
      path: ["spec", "template", "spec", "containers", 0, "resources", "limits", "memory"],
      message: /"1Gb" is not a quantity/,
    },
    {
      name: "a batch/v1 apiVersion",
      manifest: variant(replicaSet, (r) => (r.apiVersion = "batch/v1")),
      path: ["apiVersion"],
      message: /does not serve kind ReplicaSet/,
    },
    {
      name: "a name with a space",
      manifest: variant(replicaSet, (r) => (r.metadata.name = "web 5d8f7c")),
      path: ["metadata", "name"],
      message: /RFC 1123 subdomain/,
    },
    {
      name: "fractional replicas",
      manifest: variant(replicaSet, (r) => (r.spec.replicas = 1.5)),
      path: ["spec", "replicas"],
      message: /must be an integer/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("ReplicaSet", manifest, path, message);
  });
});
