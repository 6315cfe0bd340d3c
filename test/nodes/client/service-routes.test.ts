import { describe, expect, it } from "vitest";
import type { EndpointSliceSpec, StoredObject } from "../../../src/desired/index.ts";
import { planServiceRoutes } from "../../../src/nodes/client/service-routes.ts";
import { storedObject } from "../../helpers/stored-object.ts";

/** What every node's proxy is told, from Services, their slices and the live pods. */

function service(name: string, spec: Record<string, unknown> = {}): StoredObject {
  return storedObject({
    kind: "Service",
    name,
    spec: { type: "ClusterIP", selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }], ...spec },
  });
}

type Condition = "ready" | "not-ready" | "terminating";

function slice(owner: StoredObject, endpoints: [pod: string, port: number, condition: Condition][], portNumber = 80): StoredObject {
  const listed = endpoints.map(([pod, port, condition]) => ({
    pod,
    podUid: `uid-pod-${pod}`,
    nodeName: "node-a",
    address: "127.0.0.2",
    port,
    conditions: { ready: condition === "ready", serving: condition !== "not-ready", terminating: condition === "terminating" },
  }));
  const spec: EndpointSliceSpec = {
    serviceName: owner.name,
    headless: (owner.spec as { clusterIP?: string }).clusterIP === "None",
    endpoints: listed.map(({ port: _port, ...address }) => address),
    ports: [{ name: "http", port: portNumber, targetPort: "http", endpoints: listed }],
  };
  return storedObject({ kind: "EndpointSlice", name: owner.name, ownerUid: owner.uid, spec: spec as unknown as Record<string, unknown> });
}

function pod(name: string, deleted = false): StoredObject {
  return storedObject({ kind: "Pod", name, deletedAt: deleted ? new Date(1) : null });
}

describe("planServiceRoutes", () => {
  it("routes each Service port to its ready endpoints, as address:hostPort with the pod named", () => {
    const web = service("web", { type: "NodePort", ports: [{ name: "http", port: 80, targetPort: "http", nodePort: 30080, protocol: "TCP" }] });
    const routes = planServiceRoutes([web], [slice(web, [["web-1", 31001, "ready"], ["web-2", 31002, "ready"]])], [pod("web-1"), pod("web-2")]);
    expect(routes).toEqual([
      {
        namespace: "shop",
        name: "web",
        headless: false,
        ports: [
          {
            name: "http",
            port: 80,
            nodePort: 30080,
            endpoints: [
              { address: "127.0.0.2", port: 31001, pod: "shop/web-1" },
              { address: "127.0.0.2", port: 31002, pod: "shop/web-2" },
            ],
          },
        ],
      },
    ]);
  });

  const filtering: { name: string; endpoints: [string, number, Condition][]; pods: StoredObject[]; expected: number[] }[] = [
    { name: "leaves out not-ready endpoints", endpoints: [["a", 1, "not-ready"], ["b", 2, "ready"]], pods: [pod("a"), pod("b")], expected: [2] },
    { name: "leaves out terminating endpoints, even serving ones", endpoints: [["a", 1, "terminating"], ["b", 2, "ready"]], pods: [pod("a"), pod("b")], expected: [2] },
    { name: "drops a pod gone from the store before the slice says so", endpoints: [["a", 1, "ready"], ["b", 2, "ready"]], pods: [pod("b")], expected: [2] },
    { name: "drops a pod marked for deletion before the slice says so", endpoints: [["a", 1, "ready"], ["b", 2, "ready"]], pods: [pod("a", true), pod("b")], expected: [2] },
    {
      name: "drops an endpoint of an earlier pod by the same name (another uid)",
      endpoints: [["a", 1, "ready"]],
      pods: [{ ...pod("a"), uid: "uid-of-the-new-a" }],
      expected: [],
    },
  ];
  for (const testCase of filtering) {
    it(testCase.name, () => {
      const web = service("web");
      const [route] = planServiceRoutes([web], [slice(web, testCase.endpoints)], testCase.pods);
      expect(route!.ports[0]!.endpoints.map((endpoint) => endpoint.port)).toEqual(testCase.expected);
    });
  }

  it("marks headless Services, and gives Services without a slice (no selector) their ports with no endpoints", () => {
    const db = service("db", { clusterIP: "None" });
    const external = service("external", { selector: undefined, ports: [{ port: 5432, targetPort: 5432, protocol: "TCP" }] });
    const routes = planServiceRoutes([external, db], [slice(db, [["db-0", 31000, "ready"]])], [pod("db-0")]);
    expect(routes.map((route) => [route.name, route.headless, route.ports.map((port) => [port.port, port.endpoints.length])])).toEqual([
      ["db", true, [[80, 1]]],
      ["external", false, [[5432, 0]]],
    ]);
  });

  it("ignores a slice another Service owns (an earlier one by the same name)", () => {
    const web = service("web");
    const stale = { ...slice(web, [["a", 1, "ready"]]), ownerUid: "uid-of-the-old-web" };
    expect(planServiceRoutes([web], [stale], [pod("a")])[0]!.ports[0]!.endpoints).toEqual([]);
  });
});
