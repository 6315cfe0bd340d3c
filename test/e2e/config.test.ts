import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { StoredObject } from "../../src/desired/index.ts";
import { createLogger } from "../../src/logging.ts";
import { agentId } from "../helpers/agent.ts";
import { runCli } from "../helpers/cli.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";

/**
 * ConfigMaps and Secrets end to end, on two real nodes (sshd on 127.0.0.2-3,
 * the real capstan-agent, real processes): a ConfigMap change in Git rolls
 * the Deployment and the new pods see the new value, in their environment
 * and in their mounted files; a key that is gone blocks the new pods with a
 * clear event and leaves the running ones alone; and a planted Secret value
 * reaches the pods that use it and nothing else the control plane writes,
 * logs or serves.
 */

/** Everything the control plane logged, at debug level. */
let controlPlaneLog = "";
const cluster = useCluster({
  nodes: 2,
  name: "config",
  env: { CAPSTAN_EVICTION_GRACE: "30" },
  logger: createLogger({
    level: "debug",
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        controlPlaneLog += chunk.toString();
        done();
      },
    }),
  }),
  beforeStart: () => writeFile(serverScript(), server),
});
const serverScript = () => join(cluster.dataDir, "server.js");

/** The planted secret: distinctive, so that finding it anywhere is a leak and not a coincidence. */
const planted = `PLANTED-${randomUUID()}`;
const plantedBase64 = Buffer.from(planted).toString("base64");
/** What a rejected commit tries to change the immutable Secret to: it must not appear anywhere either. */
const plantedNext = `PLANTED-NEXT-${randomUUID()}`;

// A pod that reports what it sees; whether its Secret arrived is said as a boolean, never as the value.
const server = `
const fs = require("fs");
const read = (path) => { try { return fs.readFileSync(path, "utf8"); } catch { return null; } };
const mark = process.env.FAIL_ONCE_MARK;
if (mark && !fs.existsSync(mark)) { fs.writeFileSync(mark, ""); console.log("failing once on purpose"); process.exit(1); }
require("http").createServer((request, response) => {
  const password = read("/etc/capstan-secret/password");
  response.end(JSON.stringify({
    pod: process.env.POD_NAME,
    greeting: process.env.GREETING ?? null,
    conf: read("/etc/capstan-config/app.conf"),
    projectedConf: read("/etc/capstan-meta/conf/app.conf"),
    labels: read("/etc/capstan-meta/labels"),
    secretArrived: password !== null && password.length > 20 && password === process.env.PASSWORD && password === process.env.SECRET_password,
  }));
}).listen(Number(process.env.PORT));
`;

function configMap(data: Record<string, string>): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: app-config }
data: ${JSON.stringify(data)}
`;
}

function secret(password: string): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: app-secret }
immutable: true
stringData:
  password: "${password}"
`;
}

const web = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 2
      volumes:
        - { name: config, configMap: { name: app-config, items: [{ key: app.conf, path: app.conf, mode: 288 }] } }
        - { name: secret, secret: { secretName: app-secret } }
        - name: meta
          projected:
            sources:
              - downwardAPI: { items: [{ path: labels, fieldRef: { fieldPath: metadata.labels } }] }
              - configMap: { name: app-config, items: [{ key: app.conf, path: conf/app.conf }] }
      containers:
        - name: web
          command: ["${process.execPath}", "SERVER"]
          env:
            - { name: GREETING, valueFrom: { configMapKeyRef: { name: app-config, key: GREETING } } }
            - { name: PASSWORD, valueFrom: { secretKeyRef: { name: app-secret, key: password } } }
            - { name: MISSING_IS_FINE, valueFrom: { secretKeyRef: { name: app-secret, key: nope, optional: true } } }
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
          envFrom: [{ secretRef: { name: app-secret }, prefix: SECRET_ }, { configMapRef: { name: absent, optional: true } }]
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /, port: http }, periodSeconds: 1 }
          volumeMounts:
            - { name: config, mountPath: /etc/capstan-config }
            - { name: secret, mountPath: /etc/capstan-secret }
            - { name: meta, mountPath: /etc/capstan-meta }
`;

// Fails its first run (its mark lives in a Memory emptyDir, which outlives a container restart), then serves.
const flaky = `apiVersion: apps/v1
kind: Deployment
metadata: { name: flaky }
spec:
  replicas: 1
  selector: { matchLabels: { app: flaky } }
  template:
    metadata: { labels: { app: flaky } }
    spec:
      terminationGracePeriodSeconds: 2
      volumes:
        - { name: scratch, emptyDir: { medium: Memory, sizeLimit: 1Mi } }
        - { name: secret, secret: { secretName: app-secret } }
      containers:
        - name: flaky
          command: ["${process.execPath}", "SERVER"]
          env:
            - { name: FAIL_ONCE_MARK, value: /scratch/failed-once }
            - { name: PASSWORD, valueFrom: { secretKeyRef: { name: app-secret, key: password } } }
          envFrom: [{ secretRef: { name: app-secret }, prefix: SECRET_ }]
          ports: [{ name: http, containerPort: 8080 }]
          volumeMounts:
            - { name: scratch, mountPath: /scratch }
            - { name: secret, mountPath: /etc/capstan-secret }
`;

/** Commits with SERVER in the manifests replaced by the server script's path. */
function commit(files: Record<string, string | null>, message: string): Promise<string> {
  return cluster.commit(Object.fromEntries(Object.entries(files).map(([path, content]) => [path, content?.replaceAll("SERVER", serverScript()) ?? null])), message);
}

async function podsOf(app: string): Promise<StoredObject[]> {
  return (await cluster.store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.labels.app === app);
}

interface PodStatusView {
  ready?: boolean;
  hostIP?: string;
  containerStatuses?: { ports?: Record<string, number>; restartCount: number; state: Record<string, { reason?: string; message?: string }> }[];
}

const statusOf = (pod: StoredObject) => pod.status as PodStatusView;
const isReady = (pod: StoredObject) => statusOf(pod).ready === true;

/** What a pod's server answers. */
async function ask(pod: StoredObject): Promise<{ pod: string; greeting: string | null; conf: string | null; projectedConf: string | null; labels: string | null; secretArrived: boolean }> {
  const status = statusOf(pod);
  const response = await fetch(`http://${status.hostIP}:${status.containerStatuses![0]!.ports!.http}/`);
  return (await response.json()) as Awaited<ReturnType<typeof ask>>;
}

/** The pid of a pod's first container, as its agent reports it live (stored statuses leave pids out). */
function livePid(pod: StoredObject): number | undefined {
  const client = cluster.controlPlane.nodes.client((pod.spec as { nodeName: string }).nodeName);
  return client?.statuses().find((status) => status.uid === pod.uid)?.containerStatuses[0]?.pid;
}

describe("ConfigMaps and Secrets on two SSH nodes", () => {
  it("hands the pods their ConfigMap and Secret as env, files and a projected volume", async () => {
    await commit(
      { "config.yaml": configMap({ GREETING: "hello-v1", "app.conf": "mode=v1" }), "secret.yaml": secret(planted), "web.yaml": web, "flaky.yaml": flaky },
      "web v1",
    );
    await eventually(async () => expect((await podsOf("web")).filter(isReady)).toHaveLength(2), 60_000);
    for (const pod of await podsOf("web")) {
      expect(await ask(pod)).toEqual({
        pod: pod.name,
        greeting: "hello-v1",
        conf: "mode=v1",
        projectedConf: "mode=v1",
        labels: expect.stringContaining('app="web"'),
        secretArrived: true,
      });
    }
  }, 90_000);

  it("rolls the Deployment when the ConfigMap changes in Git, and the new pods see the new value in env and files", async () => {
    const before = (await podsOf("web")).map((pod) => pod.name);
    await commit({ "config.yaml": configMap({ GREETING: "hello-v2", "app.conf": "mode=v2" }) }, "config v2");
    await eventually(async () => {
      const current = await podsOf("web");
      expect(current.filter(isReady).map((pod) => pod.name).filter((name) => !before.includes(name))).toHaveLength(2);
      expect(current).toHaveLength(2);
    }, 90_000);
    for (const pod of await podsOf("web")) {
      expect(await ask(pod)).toMatchObject({ greeting: "hello-v2", conf: "mode=v2", projectedConf: "mode=v2", secretArrived: true });
    }
  }, 120_000);

  it("blocks the new pods of a commit that removes a key they need, with a Warning event, and leaves the running pods alone", async () => {
    const running = await podsOf("web");
    const pids = running.map(livePid);
    expect(pids.every((pid) => pid !== undefined)).toBe(true);
    const sha = await commit({ "config.yaml": configMap({ "app.conf": "mode=v3" }) }, "drop GREETING");

    // Accepted with a warning, as the API server accepts it: the pods are what cannot start.
    await eventually(async () => {
      const revision = await cluster.store.getRevision(sha);
      expect(revision?.state).toBe("applied");
      expect(revision?.warnings).toContainEqual(expect.objectContaining({ file: "web.yaml", message: expect.stringContaining('has no key "GREETING"') }));
    }, 20_000);
    const blocked = { reason: "CreateContainerConfigError", message: "couldn't find key GREETING in ConfigMap default/app-config" };
    let newPod: StoredObject | undefined;
    await eventually(async () => {
      newPod = (await podsOf("web")).find((pod) => !running.some((old) => old.uid === pod.uid));
      expect(statusOf(newPod!).containerStatuses?.[0]?.state).toEqual({ waiting: blocked });
      const events = await cluster.store.listEvents({ limit: 1000 });
      expect(events).toContainEqual(
        expect.objectContaining({ kind: "Pod", name: newPod!.name, type: "Warning", reason: blocked.reason, message: `container web: ${blocked.message}` }),
      );
    }, 60_000);

    // maxUnavailable 0 of 2: the old pods keep serving, with the processes they had and the values they started with.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const still = await podsOf("web");
    for (const pod of running) {
      const now = still.find((candidate) => candidate.uid === pod.uid)!;
      expect(isReady(now)).toBe(true);
      expect(statusOf(now).containerStatuses![0]!.restartCount).toBe(0);
      expect(await ask(now)).toMatchObject({ greeting: "hello-v2", secretArrived: true });
    }
    expect(running.map(livePid)).toEqual(pids);
    const table = await runCli(["pods", "--server", cluster.controlPlane.url]);
    expect(table.stdout).toMatch(new RegExp(`^default\\s+${newPod!.name}\\s+node-\\d\\s+CreateContainerConfigError\\s+no\\s`, "m"));

    // Putting the key back lets the rollout finish.
    await commit({ "config.yaml": configMap({ GREETING: "hello-v4", "app.conf": "mode=v4" }) }, "GREETING back");
    await eventually(async () => {
      const current = await podsOf("web");
      expect(current).toHaveLength(2);
      expect(current.every(isReady)).toBe(true);
      for (const pod of current) expect(await ask(pod)).toMatchObject({ greeting: "hello-v4", conf: "mode=v4" });
    }, 120_000);
  }, 240_000);

  it("keeps a planted Secret value inside the pods that use it: no log, event, status, API answer or rejection carries it", async () => {
    // A pod that failed once and came back (a restart, a terminated lastState).
    await eventually(async () => {
      const [pod] = await podsOf("flaky");
      expect(isReady(pod!)).toBe(true);
      expect(statusOf(pod!).containerStatuses![0]!.restartCount).toBe(1);
      expect(await ask(pod!)).toMatchObject({ secretArrived: true });
    }, 60_000);

    // Rejected commits of the Secret's file: an immutable value changed, a typo beside a value, a value YAML reads as an alias.
    const changed = await commit({ "secret.yaml": secret(plantedNext) }, "rotate the password");
    await eventually(async () => expect((await cluster.store.getRevision(changed))?.state).toBe("rejected"), 20_000);
    expect((await cluster.store.getRevision(changed))!.errors).toEqual([
      expect.objectContaining({ file: "secret.yaml", line: 6, path: "stringData.password", message: expect.stringContaining("field is immutable") }),
    ]);
    const typo = await commit({ "secret.yaml": secret(planted).replace("stringData:", "stringdata:") }, "typo");
    await eventually(async () => expect((await cluster.store.getRevision(typo))?.state).toBe("rejected"), 20_000);
    expect((await cluster.store.getRevision(typo))!.errors).toContainEqual(expect.objectContaining({ file: "secret.yaml", path: "stringdata" }));
    // Unquoted, a value starting with * is a YAML alias, whose name the parser would quote in its error.
    const unquoted = await commit({ "secret.yaml": secret(planted).replace(`"${planted}"`, `*${planted}`) }, "unquoted");
    await eventually(async () => expect((await cluster.store.getRevision(unquoted))?.state).toBe("rejected"), 20_000);
    expect((await cluster.store.getRevision(unquoted))!.errors).toEqual([expect.objectContaining({ file: "secret.yaml", line: 6, message: expect.stringContaining("Unresolved alias") })]);

    // The value is really in play: the pods hold it, in their environment and their secret volume.
    const webPod = (await podsOf("web"))[0]!;
    const pid = livePid(webPod)!;
    expect((await readFile(`/proc/${pid}/environ`, "latin1")).split("\0")).toEqual(expect.arrayContaining([`PASSWORD=${planted}`, `SECRET_password=${planted}`]));
    const node = Number((webPod.spec as { nodeName: string }).nodeName.slice("node-".length));
    const secretFile = join(`/dev/shm/capstan-${await agentId(cluster.agents[node]!.stateDir)}`, webPod.uid, "secret", "password");
    expect(await readFile(secretFile, "utf8")).toBe(planted);

    // Every output, gathered.
    const outputs: Record<string, string> = { "control-plane log": controlPlaneLog };
    for (const [index, agent] of cluster.agents.entries()) outputs[`agent ${index} log`] = await readFile(join(agent.stateDir, "agent.log"), "utf8");
    outputs.events = JSON.stringify(await cluster.store.listEvents({ limit: 1000 }));
    outputs.revisions = JSON.stringify(await cluster.store.listRevisions({ limit: 100 }));
    for (const kind of ["Pod", "ReplicaSet", "Deployment", "Node", "ConfigMap"]) outputs[`stored ${kind}s`] = JSON.stringify(await cluster.store.listObjects({ kind }));
    for (const path of ["/api/status", "/api/pods", "/api/nodes", "/api/revisions?limit=100"]) {
      outputs[path] = await (await fetch(`${cluster.controlPlane.url}${path}`)).text();
    }
    for (const args of [["status"], ["status", "--json"], ["pods"], ["pods", "--json"], ["history"], ["history", "--json"], ["nodes", "--json"]]) {
      const result = await runCli([...args, "--server", cluster.controlPlane.url]);
      expect(result.code).toBe(0);
      outputs[`capstan ${args.join(" ")}`] = result.stdout + result.stderr;
    }
    for (const pod of [...(await podsOf("web")), ...(await podsOf("flaky"))]) {
      const client = cluster.controlPlane.nodes.client((pod.spec as { nodeName: string }).nodeName)!;
      outputs[`live status of ${pod.name}`] = JSON.stringify(client.statuses().find((status) => status.uid === pod.uid));
    }
    // What was gathered is what it claims to be.
    expect(outputs["control-plane log"]).toContain("commit rejected");
    expect(outputs.events).toContain("CreateContainerConfigError");
    expect(outputs["/api/revisions?limit=100"]).toContain("field is immutable");
    expect(outputs["capstan status"]).toContain("deployment/default/web");

    const leaks = Object.entries(outputs)
      .filter(([, text]) => [planted, plantedBase64, plantedNext].some((value) => text.includes(value)))
      .map(([where]) => where);
    expect(leaks).toEqual([]);
  }, 120_000);
});
