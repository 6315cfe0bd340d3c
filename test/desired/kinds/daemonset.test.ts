import { describe, expect, it } from "vitest";
import { accept, expectIssue, podTemplate, variant, type InvalidCase } from "./expect.ts";

const daemonSet = {
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  metadata: { name: "log-shipper", namespace: "shop" },
  spec: {
    selector: { matchLabels: { app: "log-shipper" } },
    template: podTemplate(
      { app: "log-shipper" },
      {
        tolerations: [{ operator: "Exists" }],
        containers: [
          { name: "shipper", command: ["node", "app/log-shipper.js"], resources: { requests: { cpu: "50m", memory: "32Mi" } } },
        ],
      },
    ),
  },
};

describe("DaemonSet", () => {
  it("is accepted with the Kubernetes defaults applied", () => {
    const parsed = accept("DaemonSet", daemonSet);
    expect(parsed.spec).toMatchObject({
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      minReadySeconds: 0,
      revisionHistoryLimit: 10,
    });
  });

  it("accepts a surge with maxUnavailable 0", () => {
    const parsed = accept("DaemonSet", variant(daemonSet, (d) => (d.spec.updateStrategy = { rollingUpdate: { maxSurge: "10%", maxUnavailable: 0 } })));
    expect(parsed.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: "10%", maxUnavailable: 0 } });
  });

  it("keeps an OnDelete strategy as it is", () => {
    const parsed = accept("DaemonSet", variant(daemonSet, (d) => (d.spec.updateStrategy = { type: "OnDelete" })));
    expect(parsed.spec.updateStrategy).toEqual({ type: "OnDelete" });
  });

  const invalid: InvalidCase[] = [
    {
      name: "maxUnavailable 0 with the default maxSurge 0",
      manifest: variant(daemonSet, (d) => (d.spec.updateStrategy = { rollingUpdate: { maxUnavailable: 0 } })),
      path: ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
      message: /may not be 0 when maxSurge is 0/,
    },
    {
      name: "maxSurge with the default maxUnavailable 1 (Kubernetes allows one or the other)",
      manifest: variant(daemonSet, (d) => (d.spec.updateStrategy = { rollingUpdate: { maxSurge: 1 } })),
      path: ["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
      message: /may not be set when maxUnavailable is non-zero/,
    },
    {
      name: "a strategy type of a Deployment",
      manifest: variant(daemonSet, (d) => (d.spec.updateStrategy = { type: "Recreate" })),
      path: ["spec", "updateStrategy", "type"],
      message: /must be "RollingUpdate" or "OnDelete"/,
    },
    {
      name: "a selector that does not match the template",
      manifest: variant(daemonSet, (d) => (d.spec.template.metadata.labels = { app: "shipper" })),
      path: ["spec", "selector"],
      message: /selector does not match template labels/,
    },
    {
      name: "a CPU request that is not a quantity",
      manifest: variant(daemonSet, (d) => (d.spec.template.spec.containers[0].resources.requests.cpu = "50 millicores")),
      path: ["spec", "template", "spec", "containers", 0, "resources", "requests", "cpu"],
      message: /is not a quantity/,
    },
    {
      name: "a replicas field (a DaemonSet runs one per node)",
      manifest: variant(daemonSet, (d) => (d.spec.replicas = 3)),
      path: ["spec"],
      message: /Unrecognized key: "replicas"/,
    },
    {
      name: "a v1 apiVersion",
      manifest: variant(daemonSet, (d) => (d.apiVersion = "v1")),
      path: ["apiVersion"],
      message: /does not serve kind DaemonSet/,
    },
    {
      name: "a name with a slash",
      manifest: variant(daemonSet, (d) => (d.metadata.name = "logs/shipper")),
      path: ["metadata", "name"],
      message: /RFC 1123 subdomain/,
    },
    {
      name: "a toleration with neither key nor Exists",
      manifest: variant(daemonSet, (d) => (d.spec.template.spec.tolerations = [{ value: "x" }])),
      path: ["spec", "template", "spec", "tolerations", 0, "operator"],
      message: /operator must be Exists when key is empty/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("DaemonSet", manifest, path, message);
  });
});
