import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, validateFiles, type EndpointSliceSpec, type StoredObject } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { FakeNodeClient, NodeManager, type AgentTransport } from "../../src/nodes/index.ts";
import { eventually } from "../helpers/eventually.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * The NodeManager's Service side on a real store with in-memory nodes: every
 * node is told every Service's ready endpoints, a deleted pod leaves the
 * routes before its node is told to stop it, listen errors become events,
 * and a node that comes back is told again.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
let manager: NodeManager | undefined;
let clients: Map<string, FakeNodeClient>;
/** Every call the nodes received, in order: "syncServices node-a [ports]" or "sync node-a [pods]". */
let calls: string[];

beforeEach(async () => {
  store = new PgDesiredStore(database().pool);
  for (const kind of ["Service", "EndpointSlice", "Pod", "Node"]) {
    for (const object of await store.listObjects({ kind })) await store.deleteObject(object);
  }
  clients = new Map();
  calls = [];
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

function startManager(): NodeManager {
  manager = new NodeManager({
    store,
    clock: systemClock,
    log: silentLogger,
    transportFor: () => ({}) as AgentTransport,
    clientFor: (node) => {
      const client = new FakeNodeClient({ node: node.name, clock: systemClock });
      const { sync, syncServices } = client;
      client.sync = (pods) => {
        calls.push(`sync ${node.name} [${pods.map((pod) => pod.name).join(",")}]`);
        return sync.call(client, pods);
      };
      client.syncServices = (services) => {
        calls.push(`syncServices ${node.name} [${services.flatMap((service) => service.ports.flatMap((port) => port.endpoints.map((endpoint) => endpoint.port))).join(",")}]`);
        return syncServices.call(client, services);
      };
      clients.set(node.name, client);
      return client;
    },
    statusFlushMs: 20,
  });
  return manager;
}

let sha = 0;
async function applyManifests(yaml: string): Promise<void> {
  const result = validateFiles([{ path: "all.yaml", content: yaml }]);
  expect(result.problems).toEqual([]);
  sha += 1;
  await store.applyRevision({ sha: `s${sha}`, parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: new Date() }, result.objects, []);
}

const base = `
apiVersion: capstan.dev/v1
kind: Node
metadata: { name: node-a }
spec: { address: 127.0.0.2 }
---
apiVersion: capstan.dev/v1
kind: Node
metadata: { name: node-b }
spec: { address: 127.0.0.3 }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  type: NodePort
  selector: { app: web }
  ports: [{ name: http, port: 8080, targetPort: http, nodePort: 30080 }]
`;

async function addPod(name: string, node: string): Promise<StoredObject> {
  return store.createObject({
    apiVersion: "v1",
    kind: "Pod",
    namespace: "default",
    name,
    labels: { app: "web" },
    spec: { nodeName: node, containers: [{ name: "main", command: ["serve"], ports: [{ name: "http", containerPort: 80, protocol: "TCP" }] }] },
  });
}

/** The slice as the endpoints controller would write it (this test is about the node side). */
async function writeSlice(endpoints: { pod: StoredObject; port: number; ready: boolean }[]): Promise<void> {
  const service = (await store.getObject({ kind: "Service", namespace: "default", name: "web" }))!;
  const listed = endpoints.map(({ pod, port, ready }) => ({
    pod: pod.name,
    podUid: pod.uid,
    nodeName: (pod.spec as { nodeName: string }).nodeName,
    address: "127.0.0.2",
    port,
    conditions: { ready, serving: ready, terminating: false },
  }));
  const spec: EndpointSliceSpec = {
    serviceName: "web",
    headless: false,
    endpoints: listed.map(({ port: _port, ...address }) => address),
    ports: [{ name: "http", port: 8080, nodePort: 30080, targetPort: "http", endpoints: listed }],
  };
  const existing = await store.getObject({ kind: "EndpointSlice", namespace: "default", name: "web" });
  if (existing) await store.updateObject(existing, existing.resourceVersion, { spec: spec as unknown as Record<string, unknown> });
  else await store.createObject({ apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", namespace: "default", name: "web", spec: spec as unknown as Record<string, unknown>, ownerUid: service.uid });
}

function endpointPorts(node: string): number[] {
  return (clients.get(node)?.services()[0]?.ports[0]?.endpoints ?? []).map((endpoint) => endpoint.port);
}

describe("NodeManager and Services", () => {
  it("tells every node every Service with its ready endpoints, and again when the slice changes", async () => {
    await applyManifests(base);
    const a = await addPod("web-1", "node-a");
    const b = await addPod("web-2", "node-b");
    await writeSlice([{ pod: a, port: 31001, ready: true }, { pod: b, port: 31002, ready: false }]);
    const nodes = startManager();
    await nodes.start();
    expect(endpointPorts("node-a")).toEqual([31001]);
    expect(endpointPorts("node-b")).toEqual([31001]);
    expect(clients.get("node-a")!.services()[0]).toMatchObject({ namespace: "default", name: "web", headless: false, ports: [{ port: 8080, nodePort: 30080 }] });

    await writeSlice([{ pod: a, port: 31001, ready: true }, { pod: b, port: 31002, ready: true }]);
    await nodes.refresh();
    expect(endpointPorts("node-a")).toEqual([31001, 31002]);
    expect(endpointPorts("node-b")).toEqual([31001, 31002]);
  });

  it("takes a deleted pod out of every node's routes before its node is told to stop it", async () => {
    await applyManifests(base);
    const a = await addPod("web-1", "node-a");
    const b = await addPod("web-2", "node-b");
    await writeSlice([{ pod: a, port: 31001, ready: true }, { pod: b, port: 31002, ready: true }]);
    const nodes = startManager();
    await nodes.start();
    calls.length = 0;

    // The slice still lists it: the endpoints controller has not caught up yet.
    await store.deleteObject({ kind: "Pod", namespace: "default", name: "web-1" });
    await nodes.refresh();
    const stop = calls.indexOf("sync node-a []");
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(calls.slice(0, stop).sort()).toEqual(["syncServices node-a [31002]", "syncServices node-b [31002]"]);
  });

  it("records what a node cannot listen on as a Warning event on the Service", async () => {
    await applyManifests(base);
    const nodes = startManager();
    await nodes.start();
    // Something else takes the nodePort on node-b; the next push reports it.
    const release = await clients.get("node-b")!.occupyPort(30081);
    await applyManifests(base.replace("nodePort: 30080", "nodePort: 30081"));
    await nodes.refresh();
    await eventually(async () => {
      const events = await store.listEvents({ kind: "Service", name: "web" });
      expect(events.map((event) => [event.type, event.reason, event.message, event.source])).toEqual([
        ["Warning", "ListenFailed", expect.stringMatching(/^node node-b cannot listen on port 30081: .*EADDRINUSE/), "service-proxy"],
      ]);
    });
    await release();
  });

  it("closes the listeners of a Node removed from Git, with its pods", async () => {
    await applyManifests(base);
    const nodes = startManager();
    await nodes.start();
    const removed = clients.get("node-b")!;
    expect(removed.services()).toHaveLength(1);
    await applyManifests(base.replace(/---\napiVersion: capstan.dev\/v1\nkind: Node\nmetadata: { name: node-b }\nspec: { address: 127.0.0.3 }\n/, ""));
    await nodes.refresh();
    expect(calls).toContain("syncServices node-b []");
    expect(calls).toContain("sync node-b []");
  });

  it("tells a node that comes back its routes again", async () => {
    await applyManifests(base);
    const nodes = startManager();
    await nodes.start();
    const before = calls.filter((call) => call.startsWith("syncServices node-a")).length;
    clients.get("node-a")!.disconnect();
    clients.get("node-a")!.reconnect();
    await eventually(() => expect(calls.filter((call) => call.startsWith("syncServices node-a")).length).toBeGreaterThan(before));
  });
});
