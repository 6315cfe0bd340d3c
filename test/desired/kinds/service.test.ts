import { describe, expect, it } from "vitest";
import { accept, expectIssue, variant, type InvalidCase } from "./expect.ts";

const service = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "shop" },
  spec: {
    selector: { app: "web" },
    ports: [
      { name: "http", port: 80, targetPort: "http" },
      { name: "metrics", port: 9100 },
    ],
  },
};

describe("Service", () => {
  it("is accepted with ClusterIP, TCP and targetPort defaulting to port", () => {
    const parsed = accept("Service", service);
    expect(parsed.spec).toEqual({
      type: "ClusterIP",
      selector: { app: "web" },
      sessionAffinity: "None",
      ports: [
        { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
        { name: "metrics", port: 9100, targetPort: 9100, protocol: "TCP" },
      ],
    });
  });

  it("accepts a NodePort service and a headless one without ports", () => {
    const nodePort = accept("Service", variant(service, (s) => {
      s.spec.type = "NodePort";
      s.spec.ports[0].nodePort = 30080;
    }));
    expect(nodePort.spec.ports[0].nodePort).toBe(30080);
    const headless = accept("Service", variant(service, (s) => Object.assign(s.spec, { clusterIP: "None", ports: [] })));
    expect(headless.spec.clusterIP).toBe("None");
  });

  it("does not require a name for a single port", () => {
    const parsed = accept("Service", variant(service, (s) => (s.spec.ports = [{ port: 80 }])));
    expect(parsed.spec.ports).toEqual([{ port: 80, targetPort: 80, protocol: "TCP" }]);
  });

  const invalid: InvalidCase[] = [
    {
      name: "a nodePort on a ClusterIP service",
      manifest: variant(service, (s) => (s.spec.ports[0].nodePort = 30080)),
      path: ["spec", "ports", 0, "nodePort"],
      message: /may only be set when type is NodePort/,
    },
    {
      name: "a nodePort outside 30000-32767",
      manifest: variant(service, (s) => {
        s.spec.type = "NodePort";
        s.spec.ports[0].nodePort = 8080;
      }),
      path: ["spec", "ports", 0, "nodePort"],
      message: /node port range 30000-32767/,
    },
    {
      name: "an unnamed port among several",
      manifest: variant(service, (s) => delete s.spec.ports[1].name),
      path: ["spec", "ports", 1, "name"],
      message: /is required when a Service has more than one port/,
    },
    {
      name: "two ports with one name",
      manifest: variant(service, (s) => (s.spec.ports[1].name = "http")),
      path: ["spec", "ports", 1, "name"],
      message: /duplicate port name "http"/,
    },
    {
      name: "the same port twice",
      manifest: variant(service, (s) => (s.spec.ports[1].port = 80)),
      path: ["spec", "ports", 1, "port"],
      message: /duplicate port 80/,
    },
    {
      name: "UDP",
      manifest: variant(service, (s) => (s.spec.ports[0].protocol = "UDP")),
      path: ["spec", "ports", 0, "protocol"],
      message: /capstan proxies TCP only/,
    },
    {
      name: "a headless NodePort service",
      manifest: variant(service, (s) => Object.assign(s.spec, { type: "NodePort", clusterIP: "None" })),
      path: ["spec", "clusterIP"],
      message: /"None" \(headless\) only when type is ClusterIP/,
    },
    {
      name: "no ports on a service that is not headless",
      manifest: variant(service, (s) => (s.spec.ports = [])),
      path: ["spec", "ports"],
      message: /at least one port unless the Service is headless/,
    },
    {
      name: "a LoadBalancer type",
      manifest: variant(service, (s) => (s.spec.type = "LoadBalancer")),
      path: ["spec", "type"],
      message: /expected one of "ClusterIP"\|"NodePort"/,
    },
    {
      name: "a name starting with a digit (services are DNS-1035 labels)",
      manifest: variant(service, (s) => (s.metadata.name = "1web")),
      path: ["metadata", "name"],
      message: /DNS-1035 label/,
    },
    {
      name: "an unknown field in a port",
      manifest: variant(service, (s) => (s.spec.ports[0].appProtocol = "http")),
      path: ["spec", "ports", 0],
      message: /Unrecognized key: "appProtocol"/,
    },
    {
      name: "an apps/v1 apiVersion",
      manifest: variant(service, (s) => (s.apiVersion = "apps/v1")),
      path: ["apiVersion"],
      message: /does not serve kind Service/,
    },
    {
      name: "a selector label value that is not a string",
      manifest: variant(service, (s) => (s.spec.selector.app = true)),
      path: ["spec", "selector", "app"],
      message: /quote numbers and booleans/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Service", manifest, path, message);
  });
});
