import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, validateFiles, type CommitInfo } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { NodeManager, transportFactory } from "../../src/nodes/index.ts";
import { createStatusApp, nodeListSchema } from "../../src/status/index.ts";
import { agentCommand, agentStateDir, alive } from "../helpers/agent.ts";
import { eventually } from "../helpers/eventually.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

/**
 * The control plane's node side on a real store and a real local agent:
 * Pods bound to a node in the store run there with their ConfigMap and
 * Secret, and node and pod statuses flow back into the store.
 */

const database = useTestDatabase();
let store: PgDesiredStore;
let manager: NodeManager | undefined;
let cleanup: (() => Promise<void>) | undefined;
let stateDir: string;
let sha = 0;

beforeEach(async () => {
  store = new PgDesiredStore(database().pool);
  const dir = await agentStateDir();
  stateDir = dir.stateDir;
  cleanup = dir.cleanup;
});

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
  await cleanup?.();
});

const secretValue = "s3cr3t-planted-value";

function manifests(podNames: string[], configData = "{ GREETING: hello }"): string {
  const pods = podNames.map(
    (name) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: demo } }
spec:
  nodeName: local
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      command: ["${process.execPath}", "-e", "console.log('greeting=' + process.env.GREETING + ' token-length=' + process.env.TOKEN.length); setInterval(() => {}, 1000)"]
      envFrom: [{ configMapRef: { name: demo } }]
      env:
        - { name: TOKEN, valueFrom: { secretKeyRef: { name: demo, key: token } } }
        - { name: SAID, valueFrom: { configMapKeyRef: { name: demo, key: GREETING } } }
`,
  );
  return [
    `
apiVersion: capstan.dev/v1
kind: Node
metadata: { name: local }
spec: { transport: local, address: 127.0.0.1, stateDir: ${stateDir}, agentPath: "${agentCommand}" }
`,
    `
apiVersion: v1
kind: ConfigMap
metadata: { name: demo, namespace: default }
data: ${configData}
`,
    `
apiVersion: v1
kind: Secret
metadata: { name: demo, namespace: default }
stringData: { token: ${secretValue} }
`,
    ...pods,
  ].join("---\n");
}

async function apply(podNames: string[], options: { withoutNode?: boolean; configData?: string } = {}): Promise<void> {
  const validated = validateFiles([{ path: "all.yaml", content: manifests(podNames, options.configData) }]);
  const { problems } = validated;
  const objects = validated.objects.filter((object) => !options.withoutNode || object.kind !== "Node");
  expect(problems.filter((problem) => problem.severity === "error")).toEqual([]);
  sha += 1;
  const commit: CommitInfo = { sha: `c${sha}`, parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: new Date() };
  await store.applyRevision(commit, objects, []);
}

function startManager(): NodeManager {
  manager = new NodeManager({
    store,
    clock: systemClock,
    log: silentLogger,
    transportFor: transportFactory({ local: { stateDir, agentCommand }, log: silentLogger }),
    statusFlushMs: 50,
    heartbeatIntervalMs: 500,
  });
  return manager;
}

describe("NodeManager with a local agent", () => {
  it("runs the pods bound to a node, writes node and pod status, serves logs, and stops pods removed from the store", async () => {
    await apply(["one", "two"]);
    const nodes = startManager();
    await nodes.start();

    await eventually(async () => {
      const node = await store.getObject({ kind: "Node", namespace: "", name: "local" });
      expect(node?.status).toMatchObject({ conditions: [{ type: "Ready", status: "True", reason: "AgentReady" }], nodeInfo: { runtimes: expect.arrayContaining(["process"]) } });
    }, 20_000);
    await eventually(async () => {
      for (const name of ["one", "two"]) {
        const pod = await store.getObject({ kind: "Pod", namespace: "default", name });
        expect(pod?.status).toMatchObject({
          phase: "Running",
          ready: true,
          hostIP: "127.0.0.1",
          commitSha: "c1",
          conditions: [{ type: "Ready", status: "True", lastTransitionTime: expect.any(String) }],
        });
      }
    }, 20_000);

    let logText = "";
    await eventually(async () => {
      logText = "";
      await nodes.logs({ namespace: "default", name: "one", follow: false }, (_container, text) => (logText += text));
      expect(logText).toContain(`greeting=hello token-length=${secretValue.length}`);
    });

    const app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, nodes });
    const listed = nodeListSchema.parse(await (await app.request("/api/nodes")).json());
    expect(listed.items).toMatchObject([{ name: "local", transport: "local", ready: "True", allocated: { pods: 2 } }]);
    expect(await (await app.request("/api/pods/default/one/logs")).text()).toContain("greeting=hello");
    expect((await app.request("/api/pods/default/nobody/logs")).status).toBe(404);
    const following = await app.request("/api/pods/default/one/logs?follow=true");
    expect(following.headers.get("content-type")).toContain("text/plain");
    const reader = following.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("greeting=hello");
    await reader.cancel();
    expect((await app.request("/api/pods/default/one/logs?tailLines=-1")).status).toBe(400);

    // Nothing secret in what the store or the API shows.
    const everything = JSON.stringify([await store.listObjects({ kind: "Pod" }), await store.listObjects({ kind: "Node" }), listed]);
    expect(everything).not.toContain(secretValue);

    const twoPid = nodes.podStatuses()[0]!.pods.find((pod) => pod.name === "two")!.containerStatuses[0]!.pid!;
    await apply(["one"]);
    await nodes.refresh();
    await eventually(() => expect(alive(twoPid)).toBe(false), 10_000);
    await eventually(() => expect(nodes.podStatuses()[0]!.pods.map((pod) => pod.name)).toEqual(["one"]));
  });

  it("blocks a new pod whose ConfigMap key is gone with CreateContainerConfigError and a Warning event, and leaves the running pod alone", async () => {
    await apply(["one"]);
    const nodes = startManager();
    await nodes.start();
    await eventually(() => expect(nodes.podStatuses()[0]?.pods[0]?.ready).toBe(true), 20_000);
    const onePid = nodes.podStatuses()[0]!.pods[0]!.containerStatuses[0]!.pid!;

    // The key pod "one" read is removed; pod "two" arrives needing it.
    await apply(["one", "two"], { configData: "{ OTHER: x }" });
    await nodes.refresh();
    const blocked = { reason: "CreateContainerConfigError", message: "couldn't find key GREETING in ConfigMap default/demo" };
    await eventually(async () => {
      const two = await store.getObject({ kind: "Pod", namespace: "default", name: "two" });
      expect(two?.status).toMatchObject({ phase: "Pending", ready: false, containerStatuses: [{ name: "main", state: { waiting: blocked } }] });
      const events = await store.listEvents({});
      expect(events).toContainEqual(
        expect.objectContaining({ kind: "Pod", name: "two", objectUid: two!.uid, type: "Warning", reason: blocked.reason, message: `container main: ${blocked.message}` }),
      );
    }, 20_000);
    expect(nodes.podStatuses()[0]!.pods.find((pod) => pod.name === "two")!.containerStatuses[0]!.pid).toBeUndefined();

    const app = createStatusApp({ store, log: silentLogger, storeReachable: async () => true, nodes });
    const pods = (await (await app.request("/api/pods")).json()) as { items: { name: string; reason: string | null; phase: string }[] };
    expect(pods.items.map((pod) => [pod.name, pod.phase, pod.reason]).sort()).toEqual([["one", "Running", null], ["two", "Pending", blocked.reason]]);

    // The running pod keeps its process: config changes reach pods through rollouts, never by killing them here.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const one = nodes.podStatuses()[0]!.pods.find((pod) => pod.name === "one")!;
    expect(alive(onePid)).toBe(true);
    expect(one).toMatchObject({ phase: "Running", ready: true, containerStatuses: [{ pid: onePid, restartCount: 0 }] });
    // One event, however many status reports repeated the same wait.
    expect((await store.listEvents({})).filter((event) => event.name === "two" && event.reason === blocked.reason)).toHaveLength(1);
    expect(JSON.stringify(await store.listEvents({}))).not.toContain(secretValue);

    // The key comes back: the blocked pod (the same pod, nothing rolls it) starts, without waiting out its back-off.
    await apply(["one", "two"]);
    await nodes.refresh();
    await eventually(async () => {
      const two = await store.getObject({ kind: "Pod", namespace: "default", name: "two" });
      expect(two?.status).toMatchObject({ phase: "Running", ready: true });
    }, 10_000);
    expect(nodes.podStatuses()[0]!.pods.find((pod) => pod.name === "one")!.containerStatuses[0]).toMatchObject({ pid: onePid, restartCount: 0 });
  });

  it("stops what it runs on a node whose Node is removed from Git", async () => {
    await apply(["one"]);
    const nodes = startManager();
    await nodes.start();
    await eventually(() => expect(nodes.podStatuses()[0]?.pods[0]?.ready).toBe(true), 20_000);
    const pid = nodes.podStatuses()[0]!.pods[0]!.containerStatuses[0]!.pid!;

    await apply(["one"], { withoutNode: true });
    await nodes.refresh();
    expect(nodes.links()).toEqual([]);
    await eventually(() => expect(alive(pid)).toBe(false), 10_000);
  });

  it("reports a node it cannot reach as Ready=Unknown with the reason", async () => {
    const { objects } = validateFiles([
      {
        path: "node.yaml",
        content: `apiVersion: capstan.dev/v1
kind: Node
metadata: { name: far }
spec: { address: 127.0.0.9, port: 1, identityFile: /nonexistent/key }
`,
      },
    ]);
    await store.applyRevision({ sha: "n1", parentSha: null, authorName: "t", authorEmail: "t@x", message: "m", committedAt: new Date() }, objects, []);
    const nodes = startManager();
    await nodes.start();
    await eventually(async () => {
      const node = await store.getObject({ kind: "Node", namespace: "", name: "far" });
      expect(node?.status).toMatchObject({ conditions: [{ type: "Ready", status: "Unknown", reason: "AgentUnavailable" }] });
      expect(JSON.stringify(node?.status)).toContain("/nonexistent/key");
    }, 10_000);
  });
});
