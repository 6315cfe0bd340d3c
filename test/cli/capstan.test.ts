import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { runCli, startCli, type RunningCli } from "../helpers/cli.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { agentId, alive, killAgent, processesOfAgent } from "../helpers/agent.ts";

const examplesRepo = fileURLToPath(new URL("../../examples-repo", import.meta.url));
const database = useTestDatabase();

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function scratchRepo(): Promise<TestRepo> {
  const repo = await createRepo();
  cleanups.push(() => repo.cleanup());
  return repo;
}

async function scratchDir(): Promise<string> {
  const dir = await tempDir("capstan-cli-");
  cleanups.push(async () => {
    // `capstan up` starts the local node's agent, which outlives it by design; the test ends it and its pods.
    await killAgent(join(dir.path, "agent"), { podsToo: true });
    await dir.cleanup();
  });
  return dir.path;
}

function up(args: string[], env: Record<string, string> = {}): RunningCli {
  const running = startCli(["up", "--port", "0", ...args], { CAPSTAN_LOG_LEVEL: "warn", ...env });
  cleanups.push(() => running.stop("SIGKILL"));
  return running;
}

describe("capstan validate", () => {
  it("accepts the bundled examples-repo", async () => {
    const result = await runCli(["validate", examplesRepo]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^\d+ objects valid/m);
    expect(result.code).toBe(0);
  });

  it("exits 1 listing every error as file:line:column, and --json gives the same problems", async () => {
    const repo = await scratchRepo();
    await repo.writeAll({
      "good.yaml": configMap("good", "1"),
      "bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: nowhere\n",
      "broken.yml": "kind: [unclosed\n",
    });
    const text = await runCli(["validate", repo.dir]);
    expect(text.code).toBe(1);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines).toEqual([
      expect.stringMatching(/^bad\.yaml:5:3 metadata\.namespace: namespace "nowhere" not found/),
      expect.stringMatching(/^broken\.yml:2:1 /),
      "2 error(s): nothing would be applied",
    ]);

    const json = await runCli(["validate", "--json", repo.dir]);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { valid: boolean; problems: Array<{ file: string }> };
    expect(report.valid).toBe(false);
    expect(report.problems.map((problem) => problem.file).sort()).toEqual(["bad.yaml", "broken.yml"]);
  });

  it("exits 1 for a missing directory and 2 for a usage error", async () => {
    const missing = await runCli(["validate", "/nonexistent/capstan-manifests"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\/nonexistent\/capstan-manifests: no such directory/);
    const usage = await runCli(["validate"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing required argument/);
    expect((await runCli(["frobnicate"])).code).toBe(2);
  });
});

describe("capstan --help", () => {
  it.each(["--help", "up --help", "validate --help", "history --help", "status --help", "pods --help", "nodes --help", "logs --help"])("capstan %s prints usage and exits 0", async (line) => {
    const result = await runCli(line.split(" "));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: capstan/m);
  });
});

describe("capstan up", () => {
  it("syncs a repository into PostgreSQL, wakes on a signed webhook, serves history, and stops on SIGTERM", async () => {
    const repo = await scratchRepo();
    await repo.write("app.yaml", configMap("app", "1"));
    const first = await repo.commit("first");
    const secret = "webhook-secret-for-test";
    const running = up(["--repo", repo.dir, "--data-dir", await scratchDir(), "--poll-interval", "3600"], {
      DATABASE_URL: database().url,
      CAPSTAN_WEBHOOK_SECRET: secret,
    });
    const [, url] = await running.waitFor(/capstan is up: (http:\/\/\S+)/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await expect.poll(async () => (await runCli(["history", "--server", url!])).stdout, { timeout: 20_000 }).toMatch(first.slice(0, 10));

    await repo.write("app.yaml", configMap("app", "2"));
    const second = await repo.commit("second");
    const body = JSON.stringify({ ref: "refs/heads/main", after: second });
    const unsigned = await fetch(`${url}/hooks/git`, { method: "POST", body, headers: { "content-type": "application/json" } });
    expect(unsigned.status).toBe(401);
    const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
    const signed = await fetch(`${url}/hooks/git`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    });
    expect(signed.status).toBe(202);
    await expect
      .poll(async () => JSON.parse((await runCli(["history", "--json", "--server", url!])).stdout).items[0]?.sha, { timeout: 10_000 })
      .toBe(second);

    const status = (await (await fetch(`${url}/api/status`)).json()) as { revision: { sha: string; subject: string } };
    expect(status.revision).toMatchObject({ sha: second, subject: "second" });
    const badQuery = await fetch(`${url}/api/revisions?limit=0`);
    expect(badQuery.status).toBe(400);

    expect(await running.stop("SIGTERM")).toBe(0);
    expect(running.output()).not.toContain(secret);
  });

  it("runs a Pod bound to the local node, lists the node with `capstan nodes`, prints its log with `capstan logs`, and leaves it running on SIGTERM", async () => {
    const repo = await scratchRepo();
    await repo.writeAll({
      "node.yaml": "apiVersion: capstan.dev/v1\nkind: Node\nmetadata:\n  name: local\nspec:\n  transport: local\n  address: 127.0.0.1\n",
      "pod.yaml": [
        "apiVersion: v1",
        "kind: Pod",
        "metadata:\n  name: hello",
        "spec:",
        "  nodeName: local",
        "  containers:",
        "    - name: main",
        `      command: ["${process.execPath}", "-e", "console.log('hello from ' + process.env.POD_NAME); setInterval(() => {}, 1000)"]`,
        "      env:\n        - name: POD_NAME\n          valueFrom:\n            fieldRef:\n              fieldPath: metadata.name",
        "",
      ].join("\n"),
    });
    await repo.commit("a pod on the local node");
    const dataDir = await scratchDir();
    const running = up(["--repo", repo.dir, "--data-dir", dataDir, "--poll-interval", "3600"], { DATABASE_URL: database().url });
    const [, url] = await running.waitFor(/capstan is up: (http:\/\/\S+)/);

    await expect.poll(async () => (await runCli(["nodes", "--server", url!])).stdout, { timeout: 30_000 }).toMatch(/^local\s+local\s+Ready\s/m);
    const nodes = JSON.parse((await runCli(["nodes", "--json", "--server", url!])).stdout) as { items: { allocated: { pods: number }; runtimes: string[] }[] };
    expect(nodes.items[0]).toMatchObject({ allocated: { pods: 1 }, runtimes: expect.arrayContaining(["process"]) });
    await expect.poll(async () => (await runCli(["logs", "hello", "--server", url!])).stdout, { timeout: 30_000 }).toBe("hello from hello\n");
    const missing = await runCli(["logs", "nobody", "--server", url!]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/pod default\/nobody not found/);

    expect(await running.stop("SIGTERM")).toBe(0);
    const id = (await agentId(join(dataDir, "agent")))!;
    const [pid] = await processesOfAgent(id);
    expect(pid !== undefined && alive(pid)).toBe(true);
  }, 90_000);

  it("starts an embedded PostgreSQL on the examples-repo by default, runs the example web Deployment, stops on SIGTERM and reuses its data", async () => {
    const dataDir = await scratchDir();
    const env = { DATABASE_URL: "", CAPSTAN_REPO: "" };
    const firstRun = up(["--data-dir", dataDir], env);
    const [, url] = await firstRun.waitFor(/capstan is up: (http:\/\/\S+)/, 90_000);
    await expect
      .poll(async () => (await getStatus(url!)).revision?.state, { timeout: 20_000 })
      .toBe("applied");
    const firstSha = (await getStatus(url!)).revision!.sha;
    // The example shop's web Deployment, its log-shipper DaemonSet and its kv StatefulSet actually run, on the local node, as `npm start` promises.
    await expect
      .poll(async () => JSON.parse((await runCli(["status", "--json", "--server", url!])).stdout).workloads, { timeout: 60_000 })
      .toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: "Deployment", namespace: "shop", name: "web", desired: 2, ready: 2, rollout: "complete", health: "Healthy" }),
          expect.objectContaining({ kind: "DaemonSet", namespace: "shop", name: "log-shipper", desired: 1, ready: 1, rollout: "complete", health: "Healthy" }),
          expect.objectContaining({ kind: "StatefulSet", namespace: "shop", name: "kv", desired: 1, ready: 1, rollout: "complete", health: "Healthy" }),
        ]),
      );
    const table = await runCli(["status", "--server", url!]);
    expect(table.stdout).toMatch(/^deployment\/shop\/web\s+2\/2\s+2\s+2\s+complete\s+Healthy$/m);
    expect(table.stdout).toMatch(/^daemonset\/shop\/log-shipper\s+1\/1\s+1\s+1\s+complete\s+Healthy$/m);
    expect(table.stdout).toMatch(/^statefulset\/shop\/kv\s+1\/1\s+1\s+1\s+complete\s+Healthy$/m);
    // Two web replicas, the log shipper and kv-0.
    expect(table.stdout).toMatch(/^local\s+127\.0\.0\.1\s+True\s+4$/m);
    const podList = await runCli(["pods", "-n", "shop", "--server", url!]);
    expect(podList.stdout.match(/^shop\s+web-[0-9a-f]{10}-[a-z0-9]{5}\s+local\s+Running\s+yes\s+0\s+[0-9a-f]{10}$/gm)).toHaveLength(2);
    expect(podList.stdout).toMatch(/^shop\s+kv-0\s+local\s+Running\s+yes\s+0\s+[0-9a-f]{10}$/m);
    const pidFile = join(dataDir, "pg", "postmaster.pid");
    const postmasterPid = Number((await readFile(pidFile, "utf8")).split("\n")[0]);
    expect(await firstRun.stop("SIGTERM")).toBe(0);
    expect(isAlive(postmasterPid)).toBe(false);
    await expect(readFile(pidFile)).rejects.toThrow();

    const secondRun = up(["--data-dir", dataDir], env);
    const [, secondUrl] = await secondRun.waitFor(/capstan is up: (http:\/\/\S+)/, 60_000);
    const history = await runCli(["history", "--json", "--server", secondUrl!]);
    expect(JSON.parse(history.stdout).items.map((revision: { sha: string }) => revision.sha)).toContain(firstSha);
    expect(await secondRun.stop("SIGTERM")).toBe(0);
  }, 150_000);

  it("refuses bad configuration with exit code 2, naming the flag and variable", async () => {
    const result = await runCli(["up", "--port", "99999"], { CAPSTAN_DATA_DIR: await scratchDir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--port \(CAPSTAN_PORT\)/);
  });
});

async function getStatus(url: string): Promise<{ revision: { sha: string; state: string } | null }> {
  return (await (await fetch(`${url}/api/status`)).json()) as { revision: { sha: string; state: string } | null };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
