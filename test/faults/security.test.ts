/**
 * Security checks end to end, on a real control plane with one real sshd
 * node and agent: planted Secret values (used by pods as env and as a volume,
 * changed by a rollout, in a rejected commit and in a crash-looping pod) never
 * appear, plain or base64, in the control plane's or the agent's logs, the
 * events, any page, any API answer, /metrics or the CLI's output; the page's
 * actions refuse without the token and push nothing; a commit message with
 * markup is escaped; the agent's socket is private; and a node whose host
 * key changes is refused before anything runs there.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/logging.ts";
import { runCli } from "../helpers/cli.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { startSshd } from "../helpers/sshd.ts";

const token = "faults-security-token-7731";
let controlPlaneLog = "";
const logger = createLogger({
  level: "debug",
  destination: new Writable({
    write(chunk: Buffer, _encoding, done) {
      controlPlaneLog += chunk.toString();
      done();
    },
  }),
});
const cluster = useCluster({ nodes: 1, name: "security", logger, env: { CAPSTAN_TOKEN: token, CAPSTAN_RESYNC_INTERVAL: "2" } });

/** Distinctive values: none of them, nor their base64, may come out anywhere. */
const planted = {
  env: "pl4nt-env-Zq8wXv31",
  volume: "pl4nt-vol-Kd0pLm72",
  rolled: "pl4nt-rolled-Wu5eHt94",
  rejected: "pl4nt-rejected-Rb6nYc05",
  rejectedRaw: "pl4nt!raw-notb64-Fs2",
  alias: "pl4ntAlias9Gq",
};
const forms = Object.values(planted).flatMap((value) => [value, Buffer.from(value).toString("base64"), Buffer.from(value).toString("base64url")]);

function expectNoSecret(where: string, text: string): void {
  for (const form of forms) expect(text.includes(form), `${where} contains ${form}`).toBe(false);
}

const secret = (password: string, file: string) => `apiVersion: v1
kind: Secret
metadata: { name: db }
stringData:
  password: "${password}"
data:
  file: ${Buffer.from(file).toString("base64")}
`;
const deployment = (name: string, version: string, command: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{ name: creds, secret: { secretName: db } }]
      containers:
        - name: main
          command: ["${process.execPath}", "-e", "${command}"]
          env:
            - { name: VERSION, value: "${version}" }
            - name: DB_PASSWORD
              valueFrom: { secretKeyRef: { name: db, key: password } }
          volumeMounts: [{ name: creds, mountPath: /creds }]
`;
// The pods get the secrets (env and volume) but never print them: a pod's own output is its author's business.
const idle = "setInterval(() => {}, 1000)";
const crash = "console.error('starting without printing secrets'); process.exit(3)";

const podsOf = async (app: string) => (await cluster.store.listObjects({ kind: "Pod", namespace: "default" })).filter((pod) => pod.labels.app === app);
const phaseOf = (pod: { status: unknown }) => (pod.status as { phase?: string } | null)?.phase;

describe("security", () => {
  const shas: string[] = [];

  it("drives a sync, a rollout, a rejected commit and a crash-looping pod with planted secrets", async () => {
    shas.push(
      await cluster.commit(
        {
          "secret.yaml": secret(planted.env, planted.volume),
          "web.yaml": deployment("web", "1", idle),
          "crash.yaml": deployment("crash", "1", crash),
        },
        "web and crash with a secret",
      ),
    );
    await eventually(async () => expect((await podsOf("web")).map(phaseOf)).toEqual(["Running"]), 60_000);
    await eventually(async () => {
      const [pod] = await podsOf("crash");
      expect(JSON.stringify(pod?.status ?? {})).toMatch(/restartCount":[1-9]/);
    }, 60_000);

    // A rollout: the secret changes and the template with it.
    shas.push(await cluster.commit({ "secret.yaml": secret(planted.rolled, planted.volume), "web.yaml": deployment("web", "2", idle) }, "roll web"));
    await eventually(async () => {
      const pods = await podsOf("web");
      const versionOf = (pod: { spec: unknown }) => (pod.spec as { containers: Array<{ env: Array<{ value?: string }> }> }).containers[0]!.env[0]!.value;
      expect(pods.map((pod) => [phaseOf(pod), versionOf(pod)])).toEqual([["Running", "2"]]);
    }, 60_000);
    // Delivered: the running process has the rolled value, so its absence everywhere below means something.
    await eventually(async () => {
      const environments = await Promise.all((await cluster.processesOn(0)).map((pid) => readFile(`/proc/${pid}/environ`, "latin1").catch(() => "")));
      expect(environments.flatMap((environ) => environ.split("\0"))).toContain(`DB_PASSWORD=${planted.rolled}`);
    }, 30_000);

    // Rejected: a Secret whose data is not base64 and an alias that reads as a secret-looking value.
    shas.push(
      await cluster.commit(
        {
          "secret2.yaml": `apiVersion: v1\nkind: Secret\nmetadata: { name: db2 }\nstringData: { password: "${planted.rejected}" }\ndata: { raw: "${planted.rejectedRaw}" }\n`,
          "secret3.yaml": `apiVersion: v1\nkind: Secret\nmetadata: { name: db3 }\nstringData:\n  password: *${planted.alias}\n`,
        },
        "a bad secret",
      ),
    );
    await eventually(async () => expect((await cluster.store.getRevision(shas.at(-1)!))?.state).toBe("rejected"), 30_000);
  }, 200_000);

  it("shows none of them in logs, events, pages, API answers, /metrics or the CLI", async () => {
    const url = cluster.controlPlane.url;
    const [pod] = await podsOf("web");
    const [crashPod] = await podsOf("crash");
    const pages = [
      "/",
      "/workloads/Deployment/default/web",
      "/workloads/Deployment/default/crash",
      "/workloads/Secret/default/db",
      `/workloads/Pod/default/${pod!.name}`,
      `/workloads/Pod/default/${crashPod!.name}`,
      "/nodes/node-0",
      ...shas.map((sha) => `/revisions/${sha}`),
    ];
    const api = [
      "/api/status",
      "/api/pods",
      "/api/services",
      "/api/jobs",
      "/api/events?limit=500",
      "/api/history",
      "/api/commits",
      `/api/diff?from=${shas[0]}&to=${shas[1]}`,
      `/api/diff?from=${shas[1]}&to=${shas[2]}`,
      "/api/nodes",
      "/api/nodes/node-0",
      "/api/revisions",
      ...shas.map((sha) => `/api/revisions/${sha}`),
      "/api/workloads",
      "/api/workloads/Deployment/default/web",
      "/api/workloads/Secret/default/db",
      `/api/pods/default/${crashPod!.name}/logs`,
      "/metrics",
    ];
    let answered = 0;
    for (const path of [...pages, ...api]) {
      const response = await fetch(`${url}${path}`);
      const text = await response.text();
      expect(response.status, `${path}: ${text.slice(0, 200)}`).toBeLessThan(500);
      if (response.status === 200) answered++;
      expectNoSecret(path, text);
    }
    expect(answered).toBeGreaterThan(20);

    const cli = [
      ["status", "--json"],
      ["status", "--by-commit", "--json"],
      ["history"],
      ["diff", shas[0]!.slice(0, 10), shas[1]!.slice(0, 10)],
      ["diff", shas[1]!.slice(0, 10), shas[2]!.slice(0, 10)],
      ["pods"],
    ];
    for (const args of cli) {
      const result = await runCli([...args, "--server", url]);
      expectNoSecret(`capstan ${args.join(" ")}`, result.stdout + result.stderr);
    }

    const events = await cluster.store.listEvents({ limit: 1000 });
    expect(events.length).toBeGreaterThan(0);
    expectNoSecret("events", JSON.stringify(events));
    const revisions = await cluster.store.listRevisions({ limit: 10 });
    expectNoSecret("stored revisions and their errors", JSON.stringify(revisions));

    expect(controlPlaneLog.length).toBeGreaterThan(0);
    expectNoSecret("control plane log", controlPlaneLog);
    const agentLog = await readFile(join(cluster.agents[0]!.stateDir, "agent.log"), "utf8");
    expect(agentLog.length).toBeGreaterThan(0);
    expectNoSecret("agent log", agentLog);
  }, 120_000);

  it("refuses the page's and the API's actions without the token, pushing nothing", async () => {
    const url = cluster.controlPlane.url;
    const head = await cluster.repo.revParse("HEAD");
    const attempts: Array<{ path: string; init: RequestInit }> = [
      { path: "/actions/rollback", init: { method: "POST", body: new URLSearchParams({ to: shas[0]! }), headers: { origin: url } } },
      { path: "/actions/sync", init: { method: "POST", body: new URLSearchParams({}), headers: { origin: url } } },
      { path: "/api/rollback", init: { method: "POST", body: JSON.stringify({ to: shas[0] }), headers: { "content-type": "application/json" } } },
      { path: "/api/rollback", init: { method: "POST", body: JSON.stringify({ to: shas[0] }), headers: { "content-type": "application/json", authorization: "Bearer wrong-token" } } },
      { path: "/api/sync", init: { method: "POST", headers: { authorization: `Bearer ${token}x` } } },
    ];
    for (const { path, init } of attempts) {
      const response = await fetch(`${url}${path}`, { ...init, redirect: "manual" });
      expect([401, 403], `${path}: ${response.status}`).toContain(response.status);
    }
    expect(await cluster.repo.revParse("HEAD")).toBe(head);
  });

  it("escapes a commit message with markup on the page", async () => {
    const message = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`;
    // The bad secrets go, or this commit would be rejected with them.
    const sha = await cluster.commit({ "secret2.yaml": null, "secret3.yaml": null, "note.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: note }\ndata: { a: b }\n" }, message);
    await eventually(async () => expect((await cluster.store.getRevision(sha))?.state).toBe("applied"), 30_000);
    for (const path of ["/", `/revisions/${sha}`]) {
      const html = await (await fetch(`${cluster.controlPlane.url}${path}`)).text();
      expect(html).toContain("&lt;script&gt;alert(");
      expect(html).not.toContain('<script>alert("pwned")');
      expect(html).not.toContain("<img src=x");
    }
  });

  it("keeps the real agent's socket private: 0600 in a 0700 directory", async () => {
    const { stateDir } = cluster.agents[0]!;
    expect((await stat(join(stateDir, "agent.sock"))).mode & 0o777).toBe(0o600);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
  });

  it("refuses the node once its sshd answers with another host key, authenticating nothing there", async () => {
    const original = cluster.servers[0]!;
    await original.down();
    const impostor = await startSshd({ address: original.address, port: original.port });
    try {
      expect(impostor.hostKeyFingerprint).not.toBe(original.hostKeyFingerprint);
      await eventually(async () => {
        const node = await cluster.store.getObject({ kind: "Node", namespace: "", name: "node-0" });
        expect((node?.status as { conditions?: unknown[] } | null)?.conditions).toContainEqual(
          expect.objectContaining({ type: "Ready", status: "False", reason: "HostKeyMismatch" }),
        );
      }, 60_000);
      expect(impostor.log()).not.toMatch(/Accepted publickey|Starting session/);
    } finally {
      await impostor.stop();
      await original.up();
    }
  }, 90_000);
});
