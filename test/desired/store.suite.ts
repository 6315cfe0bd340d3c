import { beforeEach, describe, expect, it } from "vitest";
import type { ManifestProblem } from "../../src/errors.ts";
import type { CommitInfo } from "../../src/desired/records.ts";
import type { DesiredStore } from "../../src/desired/store.ts";
import type { DesiredObject } from "../../src/desired/types.ts";

/**
 * One specification of the DesiredStore, run against PostgreSQL and against
 * the in-memory fake, so that the fake cannot promise what Postgres does not do.
 */
export function describeDesiredStore(name: string, makeStore: () => Promise<DesiredStore>): void {
  describe(`DesiredStore (${name})`, () => {
    let store: DesiredStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it("creates every object of the first applied commit at generation 1", async () => {
      const summary = await store.applyRevision(commit("a1"), [configMap("app", { color: "blue" }), namespace("shop")], []);
      expect(summary).toEqual({ created: 2, updated: 0, unchanged: 0, deleted: 0 });
      const stored = await store.getObject({ kind: "ConfigMap", namespace: "default", name: "app" });
      expect(stored).toMatchObject({
        kind: "ConfigMap",
        spec: { data: { color: "blue" } },
        generation: 1,
        source: "git",
        revisionSha: "a1",
        sourceFile: "app.yaml",
      });
      expect((await store.getRevision("a1"))?.state).toBe("applied");
      expect((await store.getSyncState())?.liveSha).toBe("a1");
    });

    it("bumps generation only when the spec changes", async () => {
      await store.applyRevision(commit("a1"), [configMap("app", { color: "blue" })], []);
      const first = await store.getObject(appKey);

      await store.applyRevision(commit("a2"), [configMap("app", { color: "blue" }, { team: "web" })], []);
      const relabelled = await store.getObject(appKey);
      expect(relabelled?.generation).toBe(1);
      expect(relabelled?.labels).toEqual({ team: "web" });
      expect(relabelled!.resourceVersion).toBeGreaterThan(first!.resourceVersion);

      const summary = await store.applyRevision(commit("a3"), [configMap("app", { color: "green" }, { team: "web" })], []);
      expect(summary.updated).toBe(1);
      const changed = await store.getObject(appKey);
      expect(changed?.generation).toBe(2);
      expect(changed?.uid).toBe(first?.uid);
      expect(changed?.revisionSha).toBe("a3");
    });

    it("leaves unchanged objects alone, resource version included", async () => {
      await store.applyRevision(commit("a1"), [configMap("app", { color: "blue" })], []);
      const before = await store.getObject(appKey);
      const summary = await store.applyRevision(commit("a2"), [configMap("app", { color: "blue" })], []);
      expect(summary).toEqual({ created: 0, updated: 0, unchanged: 1, deleted: 0 });
      expect((await store.getObject(appKey))?.resourceVersion).toBe(before?.resourceVersion);
      expect((await store.getObject(appKey))?.revisionSha).toBe("a1");
    });

    it("deletes git objects that a commit no longer declares, and can create them again", async () => {
      await store.applyRevision(commit("a1"), [configMap("app", {}), configMap("other", {})], []);
      const summary = await store.applyRevision(commit("a2"), [configMap("other", {})], []);
      expect(summary.deleted).toBe(1);
      expect(await store.getObject(appKey)).toBeNull();
      expect((await store.listObjects({ kind: "ConfigMap" })).map((object) => object.name)).toEqual(["other"]);

      await store.applyRevision(commit("a3"), [configMap("app", {}), configMap("other", {})], []);
      expect((await store.getObject(appKey))?.generation).toBe(1);
    });

    it("records a rejected commit with its problems and changes no object", async () => {
      await store.applyRevision(commit("a1"), [configMap("app", { color: "blue" })], []);
      const problems: ManifestProblem[] = [
        { file: "bad.yaml", line: 3, column: 5, path: "spec.replicas", message: "expected number", severity: "error" },
        { file: "web.yaml", line: 9, column: 7, path: "spec", message: "missing ConfigMap", severity: "warning" },
      ];
      await store.rejectRevision(commit("a2"), problems);
      const rejected = await store.getRevision("a2");
      expect(rejected?.state).toBe("rejected");
      expect(rejected?.errors).toEqual([problems[0]]);
      expect(rejected?.warnings).toEqual([problems[1]]);
      expect(rejected?.appliedAt).toBeNull();
      expect((await store.getObject(appKey))?.spec).toEqual({ data: { color: "blue" } });
      const state = await store.getSyncState();
      expect(state?.liveSha).toBe("a1");
      expect(state?.lastSeenSha).toBe("a2");
    });

    it("lists revisions newest first with paging", async () => {
      await store.supersedeRevisions([commit("s1"), commit("s2")]);
      await store.applyRevision(commit("a3"), [], []);
      const all = await store.listRevisions();
      expect(all.map((revision) => [revision.sha, revision.state])).toEqual([
        ["a3", "applied"],
        ["s2", "superseded"],
        ["s1", "superseded"],
      ]);
      const page = await store.listRevisions({ limit: 1, before: all[0]!.id });
      expect(page.map((revision) => revision.sha)).toEqual(["s2"]);
    });

    it("re-applies an older commit after a force-push and keeps one row per sha", async () => {
      await store.applyRevision(commit("a1"), [configMap("app", { v: "1" })], []);
      await store.applyRevision(commit("a2"), [configMap("app", { v: "2" })], []);
      await store.applyRevision(commit("a1"), [configMap("app", { v: "1" })], []);
      expect((await store.getObject(appKey))?.spec).toEqual({ data: { v: "1" } });
      expect((await store.listRevisions()).filter((revision) => revision.sha === "a1")).toHaveLength(1);
      expect((await store.getSyncState())?.liveSha).toBe("a1");
    });

    it("merges status patches in one call, only into the named incarnation, and skips writes that change nothing", async () => {
      await store.applyRevision(commit("a1"), [configMap("app", { v: "1" }), namespace("shop")], []);
      const app = (await store.getObject(appKey))!;
      const changed = await store.updateStatuses([
        { key: appKey, uid: app.uid, status: { phase: "Running", ready: true } },
        { key: { kind: "Namespace", namespace: "", name: "shop" }, status: { phase: "Active" } },
        { key: { kind: "ConfigMap", namespace: "default", name: "missing" }, status: { phase: "x" } },
      ]);
      expect(changed).toBe(2);
      const updated = (await store.getObject(appKey))!;
      expect(updated.status).toEqual({ phase: "Running", ready: true });
      expect(updated.resourceVersion).toBeGreaterThan(app.resourceVersion);
      expect(updated.generation).toBe(app.generation);

      expect(await store.updateStatuses([{ key: appKey, status: { ready: false } }])).toBe(1);
      expect((await store.getObject(appKey))!.status).toEqual({ phase: "Running", ready: false });
      expect(await store.updateStatuses([{ key: appKey, status: { ready: false } }])).toBe(0);
      const otherIncarnation = "00000000-0000-4000-8000-000000000000";
      expect(await store.updateStatuses([{ key: appKey, uid: otherIncarnation, status: { ready: true } }])).toBe(0);
      expect(await store.updateStatuses([])).toBe(0);
    });

    it("tracks fetch failures: unreachable since the first failure, cleared by a success", async () => {
      const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
      const base = { url: "https://git.example/repo.git", branch: "main", path: "" };
      await store.recordFetch({ ...base, at: at(1), error: null });
      await store.recordFetch({ ...base, at: at(2), error: "connection refused" });
      await store.recordFetch({ ...base, at: at(3), error: "connection refused" });
      let state = await store.getSyncState();
      expect(state).toMatchObject({ lastError: "connection refused", lastSuccessAt: at(1), lastFetchAt: at(3) });
      expect(state?.unreachableSince?.getTime()).toBe(at(2).getTime());
      await store.recordFetch({ ...base, at: at(4), error: null });
      state = await store.getSyncState();
      expect(state).toMatchObject({ lastError: null, unreachableSince: null, lastSuccessAt: at(4) });
    });
  });
}

const appKey = { kind: "ConfigMap", namespace: "default", name: "app" };

function commit(sha: string): CommitInfo {
  return {
    sha,
    parentSha: null,
    authorName: "Ada",
    authorEmail: "ada@example.com",
    message: `commit ${sha}`,
    committedAt: new Date(Date.UTC(2026, 0, 1)),
  };
}

function configMap(name: string, data: Record<string, string>, labels: Record<string, string> = {}): DesiredObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    namespace: "default",
    name,
    labels,
    annotations: {},
    spec: { data },
    source: { file: `${name}.yaml`, line: 1, column: 1 },
  };
}

function namespace(name: string): DesiredObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    namespace: "",
    name,
    labels: {},
    annotations: {},
    spec: {},
    source: { file: "namespaces.yaml", line: 1, column: 1 },
  };
}
