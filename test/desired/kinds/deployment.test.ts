import { describe, expect, it } from "vitest";
import { accept, expectIssue, podTemplate, variant, type InvalidCase } from "./expect.ts";

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "shop", labels: { app: "web" } },
  spec: {
    selector: { matchLabels: { app: "web" } },
    template: podTemplate(
      { app: "web", tier: "front" },
      {
        containers: [
          {
            name: "web",
            command: ["node"],
            args: ["app/web.js"],
            ports: [{ name: "http", containerPort: 8080 }],
            readinessProbe: { httpGet: { path: "/healthz", port: "http" } },
            resources: { requests: { cpu: "100m" }, limits: { cpu: "500m", memory: "128Mi" } },
          },
        ],
      },
    ),
  },
};

describe("Deployment", () => {
  it("is accepted with the Kubernetes defaults applied", () => {
    const parsed = accept("Deployment", deployment);
    expect(parsed.spec).toMatchObject({
      replicas: 1,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } },
      minReadySeconds: 0,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      paused: false,
    });
    expect(parsed.spec.template.spec).toMatchObject({ restartPolicy: "Always", terminationGracePeriodSeconds: 30 });
    const container = parsed.spec.template.spec.containers[0];
    expect(container.ports[0].protocol).toBe("TCP");
    expect(container.readinessProbe).toEqual({
      httpGet: { path: "/healthz", port: "http", scheme: "HTTP" },
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    });
    // A missing request defaults to its limit, as Kubernetes does, so the scheduler reserves what may be used.
    expect(container.resources.requests).toEqual({ cpu: "100m", memory: "128Mi" });
  });

  it("accepts capstan.dev/v1 as well as apps/v1", () => {
    expect(accept("Deployment", { ...deployment, apiVersion: "capstan.dev/v1" }).apiVersion).toBe("capstan.dev/v1");
  });

  it("keeps a Recreate strategy without rolling-update parameters", () => {
    const parsed = accept("Deployment", variant(deployment, (d) => (d.spec.strategy = { type: "Recreate" })));
    expect(parsed.spec.strategy).toEqual({ type: "Recreate" });
  });

  it("fills in the rolling-update parameters the user left out", () => {
    const parsed = accept("Deployment", variant(deployment, (d) => (d.spec.strategy = { rollingUpdate: { maxSurge: 1 } })));
    expect(parsed.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: "25%" } });
  });

  const invalid: InvalidCase[] = [
    {
      name: "an unknown field deep in a container",
      manifest: variant(deployment, (d) => (d.spec.template.spec.containers[0].portz = [{ containerPort: 80 }])),
      path: ["spec", "template", "spec", "containers", 0],
      message: /Unrecognized key: "portz"/,
    },
    {
      name: "an apiVersion that does not serve Deployment",
      manifest: variant(deployment, (d) => (d.apiVersion = "v1")),
      path: ["apiVersion"],
      message: /does not serve kind Deployment: use one of apps\/v1, capstan.dev\/v1/,
    },
    {
      name: "a CPU limit that is not a quantity",
      manifest: variant(deployment, (d) => (d.spec.template.spec.containers[0].resources.limits.cpu = "half")),
      path: ["spec", "template", "spec", "containers", 0, "resources", "limits", "cpu"],
      message: /"half" is not a quantity/,
    },
    {
      name: "a name with capitals and underscores",
      manifest: variant(deployment, (d) => (d.metadata.name = "Web_Front")),
      path: ["metadata", "name"],
      message: /RFC 1123 subdomain/,
    },
    {
      name: "a selector that does not match the template's labels",
      manifest: variant(deployment, (d) => (d.spec.selector.matchLabels = { app: "api" })),
      path: ["spec", "selector"],
      message: /selector does not match template labels/,
    },
    {
      name: "a missing selector",
      manifest: variant(deployment, (d) => delete d.spec.selector),
      path: ["spec", "selector"],
      message: /is required/,
    },
    {
      name: "an empty selector, which would adopt every pod",
      manifest: variant(deployment, (d) => (d.spec.selector = {})),
      path: ["spec", "selector"],
      message: /empty selector is invalid/,
    },
    {
      name: "maxSurge and maxUnavailable both zero",
      manifest: variant(deployment, (d) => (d.spec.strategy = { rollingUpdate: { maxSurge: 0, maxUnavailable: "0%" } })),
      path: ["spec", "strategy", "rollingUpdate", "maxUnavailable"],
      message: /may not be 0 when maxSurge is 0/,
    },
    {
      name: "rolling-update parameters on a Recreate strategy",
      manifest: variant(deployment, (d) => (d.spec.strategy = { type: "Recreate", rollingUpdate: { maxSurge: 1 } })),
      path: ["spec", "strategy", "rollingUpdate"],
      message: /may not be specified when strategy type is "Recreate"/,
    },
    {
      name: "a maxSurge that is neither a count nor a percentage",
      manifest: variant(deployment, (d) => (d.spec.strategy = { rollingUpdate: { maxSurge: "lots" } })),
      path: ["spec", "strategy", "rollingUpdate", "maxSurge"],
      message: /percentage such as "25%"/,
    },
    {
      name: "pods that would not be restarted",
      manifest: variant(deployment, (d) => (d.spec.template.spec.restartPolicy = "Never")),
      path: ["spec", "template", "spec", "restartPolicy"],
      message: /a Deployment's pods must use "Always"/,
    },
    {
      name: "a progress deadline no longer than minReadySeconds",
      manifest: variant(deployment, (d) => Object.assign(d.spec, { minReadySeconds: 600, progressDeadlineSeconds: 600 })),
      path: ["spec", "progressDeadlineSeconds"],
      message: /must be greater than minReadySeconds/,
    },
    {
      name: "negative replicas",
      manifest: variant(deployment, (d) => (d.spec.replicas = -1)),
      path: ["spec", "replicas"],
      message: /greater than or equal to 0/,
    },
    {
      name: "a status written in Git",
      manifest: variant(deployment, (d) => (d.status = { replicas: 2 })),
      path: ["status"],
      message: /status is written by capstan/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Deployment", manifest, path, message);
  });
});
