import { describe, expect, it } from "vitest";
import { findKind, kindDefinitions, labelSelectorSchema, selectorMatches } from "../../../src/desired/kinds/index.ts";

describe("the kind registry", () => {
  it("holds the kinds of the design, each once", () => {
    expect(kindDefinitions.map((definition) => definition.kind).sort()).toEqual(
      [
        "ConfigMap",
        "CronJob",
        "DaemonSet",
        "Deployment",
        "Job",
        "Namespace",
        "Node",
        "PersistentVolumeClaim",
        "Pod",
        "ReplicaSet",
        "Secret",
        "Service",
        "StatefulSet",
        "HorizontalPodAutoscaler",
        "Notifier",
      ].sort(),
    );
  });

  it("pairs capstan.dev/v1 with each kind's Kubernetes apiVersion (capstan's own Notifier has only capstan.dev/v1)", () => {
    const versions = Object.fromEntries(kindDefinitions.map((definition) => [definition.kind, [...definition.apiVersions]]));
    expect(versions).toEqual({
      Namespace: ["v1", "capstan.dev/v1"],
      Node: ["v1", "capstan.dev/v1"],
      ConfigMap: ["v1", "capstan.dev/v1"],
      Secret: ["v1", "capstan.dev/v1"],
      Pod: ["v1", "capstan.dev/v1"],
      PersistentVolumeClaim: ["v1", "capstan.dev/v1"],
      Service: ["v1", "capstan.dev/v1"],
      Deployment: ["apps/v1", "capstan.dev/v1"],
      ReplicaSet: ["apps/v1", "capstan.dev/v1"],
      DaemonSet: ["apps/v1", "capstan.dev/v1"],
      StatefulSet: ["apps/v1", "capstan.dev/v1"],
      Job: ["batch/v1", "capstan.dev/v1"],
      CronJob: ["batch/v1", "capstan.dev/v1"],
      HorizontalPodAutoscaler: ["autoscaling/v2", "capstan.dev/v1"],
      Notifier: ["capstan.dev/v1"],
    });
  });

  it("marks only Namespace and Node as cluster-scoped", () => {
    const clusterScoped = kindDefinitions.filter((definition) => !definition.namespaced).map((definition) => definition.kind);
    expect(clusterScoped.sort()).toEqual(["Namespace", "Node"]);
  });

  it("finds kinds by their exact name only", () => {
    expect(findKind("Deployment")?.kind).toBe("Deployment");
    expect(findKind("deployment")).toBeUndefined();
    expect(findKind("Ingress")).toBeUndefined();
  });

  it("refuses a document whose kind field disagrees with the schema it is validated by", () => {
    const result = findKind("Namespace")!.schema.safeParse({ apiVersion: "v1", kind: "Node", metadata: { name: "a" } });
    expect(result.error?.issues.map((issue) => issue.path)).toContainEqual(["kind"]);
  });
});

describe("label selectors", () => {
  const labels = { app: "web", tier: "front" };
  it.each([
    [{ matchLabels: { app: "web" } }, true],
    [{ matchLabels: { app: "api" } }, false],
    [{ matchExpressions: [{ key: "tier", operator: "In", values: ["front", "back"] }] }, true],
    [{ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }, false],
    [{ matchExpressions: [{ key: "canary", operator: "NotIn", values: ["true"] }] }, true],
    [{ matchExpressions: [{ key: "app", operator: "Exists" }] }, true],
    [{ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, false],
    [{ matchLabels: { app: "web" }, matchExpressions: [{ key: "canary", operator: "Exists" }] }, false],
    [{}, true],
  ])("%j matches app=web,tier=front: %s", (selector, expected) => {
    expect(selectorMatches(labelSelectorSchema.parse(selector), labels)).toBe(expected);
  });

  it("refuses values on Exists", () => {
    const result = labelSelectorSchema.safeParse({ matchExpressions: [{ key: "app", operator: "Exists", values: ["web"] }] });
    expect(result.error?.issues[0]?.path).toEqual(["matchExpressions", 0, "values"]);
  });
});
