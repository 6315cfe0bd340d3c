import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { endpointSliceSpec, planEndpoints, resolveTargetPort } from "../../src/reconcilers/index.ts";
import { storedObject } from "../helpers/stored-object.ts";

/** The endpoints plan from tables: which pods a Service lists, on which host ports, in which condition. */

interface PodOptions {
  labels?: Record<string, string>;
  ready?: boolean;
  phase?: string;
  node?: string | null;
  hostIP?: string | null;
  deleted?: boolean;
  /** Container ports: [name?, containerPort, hostPort in the status (undefined = not reported yet)]. */
  ports?: [string | undefined, number, number | undefined][];
  subdomain?: string;
  hostname?: string;
}

function pod(name: string, options: PodOptions = {}): StoredObject {
  const ports = options.ports ?? [["http", 8080, 31000]];
  const node = options.node === undefined ? "node-a" : options.node;
  const statusPorts: Record<string, number> = {};
  for (const [portName, containerPort, hostPort] of ports) if (hostPort !== undefined) statusPorts[portName ?? String(containerPort)] = hostPort;
  return storedObject({
    kind: "Pod",
    name,
    labels: options.labels ?? { app: "web" },
    spec: {
      containers: [{ name: "main", command: ["serve"], ports: ports.map(([portName, containerPort]) => ({ ...(portName ? { name: portName } : {}), containerPort, protocol: "TCP" })) }],
      ...(node ? { nodeName: node } : {}),
      ...(options.subdomain ? { subdomain: options.subdomain } : {}),
      ...(options.hostname ? { hostname: options.hostname } : {}),
    },
    status: {
      phase: options.phase ?? "Running",
      ready: options.ready ?? true,
      ...(options.hostIP === null ? {} : { hostIP: options.hostIP ?? "127.0.0.2" }),
      conditions: [{ type: "Ready", status: (options.ready ?? true) ? "True" : "False" }],
      containerStatuses: [{ name: "main", ports: statusPorts, restartCount: 0 }],
    },
    deletedAt: options.deleted ? new Date(1000) : null,
  });
}

function service(spec: Record<string, unknown>, name = "web"): StoredObject {
  const ports = ((spec.ports as Record<string, unknown>[] | undefined) ?? [{ port: 80, targetPort: "http" }]).map((port) => ({
    targetPort: port.port,
    protocol: "TCP",
    ...port,
  }));
  return storedObject({ kind: "Service", name, spec: { type: "ClusterIP", selector: { app: "web" }, sessionAffinity: "None", ...spec, ports } });
}

/** Per service port: the endpoints as "pod@address:port ready/serving/terminating". */
function summary(svc: StoredObject, pods: StoredObject[]): Record<string, string[]> {
  const spec = endpointSliceSpec(svc, pods);
  return Object.fromEntries(
    spec.ports.map((port) => [
      port.name ?? String(port.port),
      port.endpoints.map(
        (endpoint) =>
          `${endpoint.pod}@${endpoint.address}:${endpoint.port} ${["ready", "serving", "terminating"].map((c) => (endpoint.conditions[c as "ready"] ? c[0] : "-")).join("")}`,
      ),
    ]),
  );
}

describe("endpointSliceSpec", () => {
  const cases: { name: string; service: StoredObject; pods: StoredObject[]; expected: Record<string, string[]> }[] = [
    {
      name: "lists the pods the selector matches, in name order, with their host port for a named targetPort",
      service: service({}),
      pods: [pod("web-b", { ports: [["http", 8080, 31002]] }), pod("other", { labels: { app: "db" } }), pod("web-a")],
      expected: { "80": ["web-a@127.0.0.2:31000 rs-", "web-b@127.0.0.2:31002 rs-"] },
    },
    {
      name: "matches every selector label, not any",
      service: service({ selector: { app: "web", tier: "front" } }),
      pods: [pod("both", { labels: { app: "web", tier: "front", extra: "x" } }), pod("one", { labels: { app: "web" } })],
      expected: { "80": ["both@127.0.0.2:31000 rs-"] },
    },
    {
      name: "resolves a numeric targetPort to the container port that declares it, named or not",
      service: service({ ports: [{ name: "a", port: 80, targetPort: 8080 }, { name: "b", port: 81, targetPort: 9090 }] }),
      pods: [pod("p", { ports: [["http", 8080, 31000], [undefined, 9090, 31001]] })],
      expected: { a: ["p@127.0.0.2:31000 rs-"], b: ["p@127.0.0.2:31001 rs-"] },
    },
    {
      name: "takes a numeric targetPort no container declares as the host port itself (host network)",
      service: service({ ports: [{ port: 5432, targetPort: 5432 }] }),
      pods: [pod("db")],
      expected: { "5432": ["db@127.0.0.2:5432 rs-"] },
    },
    {
      name: "leaves a pod without the named port out of that port only",
      service: service({ ports: [{ name: "http", port: 80, targetPort: "http" }, { name: "metrics", port: 9100, targetPort: "metrics" }] }),
      pods: [pod("plain"), pod("full", { ports: [["http", 8080, 31005], ["metrics", 9100, 31006]] })],
      expected: { http: ["full@127.0.0.2:31005 rs-", "plain@127.0.0.2:31000 rs-"], metrics: ["full@127.0.0.2:31006 rs-"] },
    },
    {
      name: "leaves out a pod whose host port is not reported yet",
      service: service({}),
      pods: [pod("starting", { ports: [["http", 8080, undefined]] })],
      expected: { "80": [] },
    },
    {
      name: "lists a not-ready pod as neither ready nor serving",
      service: service({}),
      pods: [pod("slow", { ready: false })],
      expected: { "80": ["slow@127.0.0.2:31000 ---"] },
    },
    {
      name: "lists a terminating pod as not ready, still serving while its probe passes",
      service: service({}),
      pods: [pod("going", { deleted: true }), pod("gone-dark", { deleted: true, ready: false })],
      expected: { "80": ["going@127.0.0.2:31000 -st", "gone-dark@127.0.0.2:31000 --t"] },
    },
    {
      name: "leaves out finished, unbound and address-less pods",
      service: service({}),
      pods: [pod("done", { phase: "Succeeded" }), pod("failed", { phase: "Failed" }), pod("unbound", { node: null, hostIP: null }), pod("unreported", { hostIP: null })],
      expected: { "80": [] },
    },
    {
      name: "ignores pods of other namespaces",
      service: service({}),
      pods: [{ ...pod("elsewhere"), namespace: "other" }],
      expected: { "80": [] },
    },
  ];

  for (const testCase of cases) {
    it(testCase.name, () => {
      expect(summary(testCase.service, testCase.pods)).toEqual(testCase.expected);
    });
  }

  it("keeps port names, numbers, nodePorts and targetPorts as the Service wrote them", () => {
    const spec = endpointSliceSpec(service({ type: "NodePort", ports: [{ name: "http", port: 80, targetPort: "http", nodePort: 30080 }] }), [pod("p")]);
    expect(spec.ports.map(({ endpoints: _endpoints, ...port }) => port)).toEqual([{ name: "http", port: 80, nodePort: 30080, targetPort: "http" }]);
    expect(spec.endpoints).toEqual([
      { pod: "p", podUid: "uid-pod-p", nodeName: "node-a", address: "127.0.0.2", conditions: { ready: true, serving: true, terminating: false } },
    ]);
  });

  it("publishes per-pod addresses for a headless Service, with or without ports, and hostnames for its subdomain", () => {
    const headless = service({ clusterIP: "None", ports: [] }, "db");
    const spec = endpointSliceSpec(headless, [
      pod("db-0", { subdomain: "db", hostIP: "127.0.0.3" }),
      pod("db-1", { subdomain: "db", hostname: "replica", hostIP: "127.0.0.4" }),
      pod("stray", { subdomain: "other" }),
    ]);
    expect(spec.headless).toBe(true);
    expect(spec.ports).toEqual([]);
    expect(spec.endpoints.map((endpoint) => [endpoint.pod, endpoint.address, endpoint.hostname])).toEqual([
      ["db-0", "127.0.0.3", "db-0.db"],
      ["db-1", "127.0.0.4", "replica.db"],
      ["stray", "127.0.0.2", undefined],
    ]);
  });

  it("resolves targetPort by name and by number on one pod (resolveTargetPort)", () => {
    const p = pod("p", { ports: [["http", 8080, 31000], [undefined, 9090, 31001]] });
    expect([resolveTargetPort(p, "http"), resolveTargetPort(p, 8080), resolveTargetPort(p, 9090), resolveTargetPort(p, "nope"), resolveTargetPort(p, 7000)]).toEqual([
      31000, 31000, 31001, undefined, 7000,
    ]);
  });
});

describe("planEndpoints", () => {
  const svc = service({});
  const slice = (spec: unknown, ownerUid = svc.uid): StoredObject =>
    storedObject({ kind: "EndpointSlice", name: "web", spec: spec as Record<string, unknown>, ownerUid, resourceVersion: 7 });

  it("creates the slice a Service with a selector lacks", () => {
    expect(planEndpoints({ service: svc, pods: [pod("a")], slice: null })).toEqual([{ type: "createSlice", spec: endpointSliceSpec(svc, [pod("a")]) }]);
  });

  it("does nothing when the slice already says it", () => {
    expect(planEndpoints({ service: svc, pods: [pod("a")], slice: slice(endpointSliceSpec(svc, [pod("a")])) })).toEqual([]);
  });

  it("rewrites the slice when a pod's readiness changes, at the version it read", () => {
    const before = slice(endpointSliceSpec(svc, [pod("a")]));
    expect(planEndpoints({ service: svc, pods: [pod("a", { ready: false })], slice: before })).toEqual([
      { type: "updateSlice", spec: endpointSliceSpec(svc, [pod("a", { ready: false })]), resourceVersion: 7 },
    ]);
  });

  it("rewrites a slice whose stored spec does not parse", () => {
    expect(planEndpoints({ service: svc, pods: [], slice: slice({ garbage: true }) })).toMatchObject([{ type: "updateSlice" }]);
  });

  it("manages no slice for a Service without a selector (or an empty one), and removes the one it had", () => {
    for (const selectorless of [service({ selector: undefined }), service({ selector: {} })]) {
      expect(planEndpoints({ service: selectorless, pods: [pod("a")], slice: null })).toEqual([]);
      expect(planEndpoints({ service: selectorless, pods: [pod("a")], slice: slice({}, selectorless.uid) })).toEqual([
        { type: "deleteSlice", uid: "uid-endpointslice-web", reason: "NoSelector" },
      ]);
    }
  });

  it("removes a slice owned by an earlier Service of the same name", () => {
    expect(planEndpoints({ service: svc, pods: [], slice: slice(endpointSliceSpec(svc, []), "uid-of-the-old-one") })).toEqual([
      { type: "deleteSlice", uid: "uid-endpointslice-web", reason: "NotOwned" },
    ]);
  });
});
