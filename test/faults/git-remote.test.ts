import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import type { GitHttpServer } from "../helpers/git-http-server.ts";
import { parseExposition, valueOf } from "../helpers/prometheus-text.ts";

/**
 * The watched repository, served over smart HTTP by `git http-backend`, goes
 * wrong three ways: unreachable (nothing listens), every request answered
 * 500, and packs corrupted in flight. Each time a commit is pushed while the
 * remote is broken; the last good revision must stay live (objects and pods
 * untouched), the page and /metrics must say the source is failing, and once
 * the remote is back the pushed commit must go live on its own (polling, no
 * webhook), within a bound we measure.
 */

const credentials = { username: "capstan", password: "remote-pass-4d1c" };
const cluster = useCluster({ nodes: 1, firstAddress: "127.0.0.61", name: "git-remote", overHttp: credentials, pollIntervalSeconds: 1 });

const web = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          command: ["${process.execPath}", "-e", "setInterval(() => {}, 1000)"]
`;

function marker(name: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: ${name} }
data: { pushed: "while the remote was broken" }
`;
}

interface Fault {
  name: string;
  /** What the page must say about it. */
  error: RegExp;
  break(server: GitHttpServer): Promise<void> | void;
  repair(server: GitHttpServer): Promise<void> | void;
}

const faults: Fault[] = [
  { name: "unreachable", error: /connect ECONNREFUSED/, break: (server) => server.down(), repair: (server) => server.up() },
  { name: "http-500", error: /HTTP 500/, break: (server) => server.setFault("fail"), repair: (server) => server.setFault(null) },
  { name: "corrupt-pack", error: /the remote's answer could not be read \(a corrupt or truncated pack\)/, break: (server) => server.setFault("corrupt"), repair: (server) => server.setFault(null) },
];

async function metrics(): Promise<{ sourceUp: number | undefined; fetchErrors: number }> {
  const response = await fetch(`${cluster.controlPlane.url}/metrics`);
  expect(response.status).toBe(200);
  const exposition = parseExposition(await response.text());
  return { sourceUp: valueOf(exposition, "capstan_git_source_up"), fetchErrors: valueOf(exposition, "capstan_sync_errors_total", { reason: "fetch" }) ?? 0 };
}

/** The page header's sync state: data-state, and the `since` of an unreachable source. */
async function pageSyncState(): Promise<{ state: string; since: string | null; text: string }> {
  const response = await fetch(`${cluster.controlPlane.url}/`);
  expect(response.status).toBe(200);
  const html = await response.text();
  const element = /<div data-testid="sync-state" data-state="([a-z-]+)"[^>]*>([\s\S]*?)<\/div>/.exec(html);
  expect(element, "the page has a sync-state element").not.toBeNull();
  const since = /<time datetime="([^"]+)"/.exec(element![2]!);
  return { state: element![1]!, since: since?.[1] ?? null, text: decodeEntities(element![2]!.replace(/<[^>]+>/g, "")) };
}

function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"' };
  return text.replace(/&(#\d+|amp|lt|gt|quot);/g, (_, entity: string) => (entity.startsWith("#") ? String.fromCharCode(Number(entity.slice(1))) : named[entity]!));
}

/** What must not move while the remote is broken: every object's identity and spec, and the pods' processes. */
async function liveWorld(): Promise<{ liveSha: string | null; objects: string[]; pids: number[] }> {
  const objects = await cluster.store.listObjects({});
  return {
    liveSha: (await cluster.store.getSyncState())?.liveSha ?? null,
    objects: objects.map((object) => `${object.kind}/${object.namespace}/${object.name} ${object.uid} ${object.specHash}`).sort(),
    pids: (await cluster.processesOn(0)).sort((a, b) => a - b),
  };
}

describe("a Git remote that fails", () => {
  it("starts from a live commit with running pods", async () => {
    const sha = await cluster.commit({ "web.yaml": web }, "web, two replicas");
    await eventually(async () => {
      expect((await cluster.store.getSyncState())?.liveSha).toBe(sha);
      const pods = await cluster.store.listObjects({ kind: "Pod" });
      expect(pods.map((pod) => (pod.status as { phase?: string }).phase)).toEqual(["Running", "Running"]);
      expect(await cluster.processesOn(0)).toHaveLength(2);
    }, 60_000);
    expect((await pageSyncState()).state).toBe("in-sync");
    expect((await metrics()).sourceUp).toBe(1);
  }, 90_000);

  it.each(faults)("$name: the last good revision stays live, the page and /metrics show the failure, and a commit pushed meanwhile goes live when the remote returns", async (fault) => {
    const server = cluster.gitServer;
    const before = await liveWorld();
    const errorsBefore = (await metrics()).fetchErrors;
    const brokenAt = Date.now();
    await fault.break(server);
    let pushed = "";
    try {
      await cluster.repo.write(`${fault.name}.yaml`, marker(fault.name));
      pushed = await cluster.repo.commit(`${fault.name}: pushed while the remote is broken`);
      cluster.controlPlane.sync.trigger();

      await eventually(async () => {
        const page = await pageSyncState();
        expect(page.state).toBe("unreachable");
        expect(page.text).toMatch(/source unreachable since/);
        // The page says what went wrong, in an operator's words.
        expect(page.text).toMatch(fault.error);
        expect(page.text).not.toMatch(/isomorphic-git/);
        expect(page.since).not.toBeNull();
        expect(new Date(page.since!).getTime()).toBeGreaterThanOrEqual(brokenAt - 1_000);
        const figures = await metrics();
        expect(figures.sourceUp).toBe(0);
        // Several failed passes, not one: the loop keeps retrying (with backoff) and counts each.
        expect(figures.fetchErrors).toBeGreaterThanOrEqual(errorsBefore + 2);
      }, 30_000);
      expect(await liveWorld()).toEqual(before);
      expect(await cluster.store.getObject({ kind: "ConfigMap", namespace: "default", name: fault.name })).toBeNull();
    } finally {
      await fault.repair(server);
    }

    const repairedAt = performance.now();
    await eventually(async () => {
      expect((await cluster.store.getSyncState())?.liveSha).toBe(pushed);
      expect(await cluster.store.getObject({ kind: "ConfigMap", namespace: "default", name: fault.name })).not.toBeNull();
    }, 60_000);
    const toLiveMs = performance.now() - repairedAt;
    console.info(`[figure] git-remote ${fault.name}: remote back -> pushed commit live in ${Math.round(toLiveMs)} ms`);

    await eventually(async () => {
      expect((await pageSyncState()).state).toBe("in-sync");
      expect((await metrics()).sourceUp).toBe(1);
    }, 15_000);
    // The pods of the last good revision ran through it all.
    expect((await liveWorld()).pids).toEqual(before.pids);
  }, 150_000);
});
