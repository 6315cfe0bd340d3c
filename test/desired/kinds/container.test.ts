import { describe, it } from "vitest";
import { expectIssue, variant, type InvalidCase } from "./expect.ts";
import { pod } from "./pod-fixture.ts";

describe("Pod containers", () => {
  const invalid: InvalidCase[] = [
    {
      name: "an unknown field in a container",
      manifest: variant(pod, (p) => (p.spec.containers[0].portz = [])),
      path: ["spec", "containers", 0],
      message: /Unrecognized key: "portz"/,
    },
    {
      name: "a memory request that is not a quantity",
      manifest: variant(pod, (p) => (p.spec.containers[0].resources.requests.memory = "64 MB")),
      path: ["spec", "containers", 0, "resources", "requests", "memory"],
      message: /"64 MB" is not a quantity/,
    },
    {
      name: "a request above its limit",
      manifest: variant(pod, (p) => (p.spec.containers[0].resources = { requests: { cpu: "2" }, limits: { cpu: "1500m" } })),
      path: ["spec", "containers", 0, "resources", "requests", "cpu"],
      message: /less than or equal to cpu limit of 1500m/,
    },
    {
      name: "an init container named like a container",
      manifest: variant(pod, (p) => (p.spec.initContainers[0].name = "web")),
      path: ["spec", "containers", 0, "name"],
      message: /duplicate container name "web"/,
    },
    {
      name: "two ports with one name",
      manifest: variant(pod, (p) => (p.spec.containers[0].ports[1].name = "http")),
      path: ["spec", "containers", 0, "ports", 1, "name"],
      message: /duplicate port name "http"/,
    },
    {
      name: "a port name longer than 15 characters",
      manifest: variant(pod, (p) => (p.spec.containers[0].ports[1].name = "prometheus-metrics")),
      path: ["spec", "containers", 0, "ports", 1, "name"],
      message: /1 to 15 characters/,
    },
    {
      name: "a port out of range",
      manifest: variant(pod, (p) => (p.spec.containers[0].ports[0].containerPort = 70000)),
      path: ["spec", "containers", 0, "ports", 0, "containerPort"],
      message: /between 1 and 65535/,
    },
    {
      name: "a mount of an undeclared volume",
      manifest: variant(pod, (p) => (p.spec.containers[0].volumeMounts[0].name = "scratch")),
      path: ["spec", "containers", 0, "volumeMounts", 0, "name"],
      message: /volume "scratch" is not declared in volumes/,
    },
    {
      name: "a probe on a port name the container does not declare",
      manifest: variant(pod, (p) => (p.spec.containers[0].livenessProbe.tcpSocket.port = "admin")),
      path: ["spec", "containers", 0, "livenessProbe", "tcpSocket", "port"],
      message: /port name "admin" does not match any named port of container "web"/,
    },
    {
      name: "a lifecycle hook on an undeclared port name",
      manifest: variant(pod, (p) => (p.spec.containers[0].lifecycle.postStart.httpGet.port = "warmup")),
      path: ["spec", "containers", 0, "lifecycle", "postStart", "httpGet", "port"],
      message: /port name "warmup" does not match/,
    },
    {
      name: "a probe with two handlers",
      manifest: variant(pod, (p) => (p.spec.containers[0].readinessProbe.exec = { command: ["true"] })),
      path: ["spec", "containers", 0, "readinessProbe", "exec"],
      message: /may not specify more than one handler type \(httpGet is already set\)/,
    },
    {
      name: "a probe without a handler",
      manifest: variant(pod, (p) => (p.spec.containers[0].readinessProbe = { periodSeconds: 5 })),
      path: ["spec", "containers", 0, "readinessProbe"],
      message: /must specify a handler type: one of httpGet, tcpSocket, exec/,
    },
    {
      name: "a liveness probe that needs two successes",
      manifest: variant(pod, (p) => (p.spec.containers[0].livenessProbe.successThreshold = 2)),
      path: ["spec", "containers", 0, "livenessProbe", "successThreshold"],
      message: /must be 1/,
    },
    {
      name: "restartPolicy on a regular container",
      manifest: variant(pod, (p) => (p.spec.containers[0].restartPolicy = "Always")),
      path: ["spec", "containers", 0, "restartPolicy"],
      message: /may only be set on init containers/,
    },
    {
      name: "a probe on a plain init container",
      manifest: variant(pod, (p) => (p.spec.initContainers[0].readinessProbe = { exec: { command: ["true"] } })),
      path: ["spec", "initContainers", 0, "readinessProbe"],
      message: /init containers without restartPolicy "Always"/,
    },
    {
      name: "an env var with both value and valueFrom",
      manifest: variant(pod, (p) => (p.spec.containers[0].env[1].value = "inline")),
      path: ["spec", "containers", 0, "env", 1, "valueFrom"],
      message: /may not be specified when `value` is not empty/,
    },
    {
      name: "an unquoted number as an env value",
      manifest: variant(pod, (p) => (p.spec.containers[0].env[0].value = 8080)),
      path: ["spec", "containers", 0, "env", 0, "value"],
      message: /quote numbers and booleans/,
    },
    {
      name: "a fieldRef capstan cannot fill",
      manifest: variant(pod, (p) => (p.spec.containers[0].env[2].valueFrom.fieldRef.fieldPath = "spec.serviceAccountName")),
      path: ["spec", "containers", 0, "env", 2, "valueFrom", "fieldRef", "fieldPath"],
      message: /supported fieldPaths are/,
    },
    {
      name: "envFrom naming both a ConfigMap and a Secret",
      manifest: variant(pod, (p) => (p.spec.containers[0].envFrom[0].secretRef = { name: "web-secrets" })),
      path: ["spec", "containers", 0, "envFrom", 0, "secretRef"],
      message: /may not specify more than one source \(configMapRef is already set\)/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Pod", manifest, path, message);
  });
});
