import { beforeEach, describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, type ManifestProblem } from "../../src/errors.ts";
import { pruneAnnotation, specHash } from "../../src/desired/index.ts";
import type { CommitInfo, NewEvent, NewObject } from "../../src/desired/records.ts";
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
      expect(await store.updateStatuses([{ key: appKey, uid: otherIncarnation, status: { ready: true } }])).toBe(0);
      expect(await store.updateStatuses([])).toBe(0);
    });

    it("keeps an object annotated capstan.dev/prune: \"false\" live and untouched when Git no longer declares it", async () => {
      const kept = annotated(configMap("kept", { v: "1" }), { [pruneAnnotation]: "false" });
      const pruned = annotated(configMap("pruned", { v: "1" }), { [pruneAnnotation]: "true" });
      await store.applyRevision(commit("a1"), [kept, pruned, configMap("plain", {})], []);
      const before = await store.getObject({ ...appKey, name: "kept" });

      const summary = await store.applyRevision(commit("a2"), [], []);
      expect(summary).toEqual({ created: 0, updated: 0, unchanged: 0, deleted: 2 });
      const after = await store.getObject({ ...appKey, name: "kept" });
      expect(after).toEqual(before);
      expect(after).toMatchObject({ source: "git", revisionSha: "a1", deletedAt: null });
      expect((await store.listObjects({ kind: "ConfigMap" })).map((object) => object.name)).toEqual(["kept"]);

      expect((await store.applyRevision(commit("a3"), [], [])).deleted).toBe(0);
      // Declared again without the opt-out, then dropped: pruned as usual.
      await store.applyRevision(commit("a4"), [configMap("kept", { v: "1" })], []);
      expect((await store.applyRevision(commit("a5"), [], [])).deleted).toBe(1);
      expect(await store.getObject({ ...appKey, name: "kept" })).toBeNull();
    });

    it("repairs git-sourced objects changed outside the sync back to the live commit's version, and only those", async () => {
      const objects = [configMap("edited", { v: "1" }), configMap("removed", { v: "1" }), configMap("untouched", { v: "1" })];
      await store.applyRevision(commit("a1"), objects, []);
      expect(await store.repairDrift("a1", objects)).toEqual([]);
      const edited = (await store.getObject({ ...appKey, name: "edited" }))!;
      await store.updateObject({ ...appKey, name: "edited" }, edited.resourceVersion, { spec: { data: { v: "by hand" } } });
      await store.deleteObject({ ...appKey, name: "removed" });
      expect(await store.driftSuspected(3)).toBe(true);

      const repairs = await store.repairDrift("a1", objects);
      expect(repairs.map((repair) => `${repair.action} ${repair.name}`).sort()).toEqual(["recreated removed", "reset edited"]);
      expect((await store.getObject({ ...appKey, name: "edited" }))!.spec).toEqual({ data: { v: "1" } });
      expect((await store.getObject({ ...appKey, name: "removed" }))!.source).toBe("git");
      expect(await store.repairDrift("a1", objects)).toEqual([]);
      // No revision is recorded for a repair: a1 is still the one live revision.
      expect((await store.listRevisions()).map((revision) => revision.sha)).toEqual(["a1"]);
    });

    describe("controller writes", () => {
      it("creates a controller object at generation 1 and refuses a second live one with the same key", async () => {
        const created = await store.createObject(replicaSet("web-5d8f", { replicas: 2 }));
        expect(created).toMatchObject({
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          namespace: "shop",
          name: "web-5d8f",
          labels: { app: "web" },
          annotations: {},
          spec: { replicas: 2 },
          status: {},
          generation: 1,
          observedGeneration: 0,
          specHash: specHash({ replicas: 2 }),
          ownerUid: null,
          source: "controller",
          revisionSha: null,
          sourceFile: null,
          deletedAt: null,
        });
        expect(created.uid).toMatch(/^[0-9a-f-]{36}$/);
        expect(await store.getObject(rsKey)).toEqual(created);

        const again = store.createObject(replicaSet("web-5d8f", { replicas: 3 }));
        await expect(again).rejects.toBeInstanceOf(ConflictError);
        await expect(again).rejects.toMatchObject({
          code: "Conflict",
          transient: true,
          reason: "exists",
          data: rsKey,
          message: "ReplicaSet shop/web-5d8f already exists",
        });
        expect((await store.getObject(rsKey))?.spec).toEqual({ replicas: 2 });

        await store.applyRevision(commit("a1"), [configMap("app", {})], []);
        await expect(store.createObject({ apiVersion: "v1", ...appKey, spec: {} })).rejects.toBeInstanceOf(ConflictError);

        // A deleted incarnation does not block the name.
        await store.deleteObject(rsKey);
        const recreated = await store.createObject({ ...replicaSet("web-5d8f", {}), status: { replicas: 0 }, ownerUid: created.uid });
        expect(recreated.uid).not.toBe(created.uid);
        expect(recreated).toMatchObject({ status: { replicas: 0 }, ownerUid: created.uid });
      });

      it("updates only at the expected resource version, bumping generation only when the spec changes", async () => {
        const created = await store.createObject(replicaSet("web-5d8f", { replicas: 2 }));

        const relabelled = await store.updateObject(rsKey, created.resourceVersion, { labels: { app: "web", tier: "front" } });
        expect(relabelled).toMatchObject({ generation: 1, labels: { app: "web", tier: "front" }, spec: { replicas: 2 } });
        expect(relabelled.resourceVersion).toBeGreaterThan(created.resourceVersion);

        const stale = store.updateObject(rsKey, created.resourceVersion, { spec: { replicas: 5 } });
        await expect(stale).rejects.toBeInstanceOf(ConflictError);
        await expect(stale).rejects.toMatchObject({
          code: "Conflict",
          reason: "modified",
          data: rsKey,
          message: "ReplicaSet shop/web-5d8f was modified; re-read and retry",
        });
        expect(await store.getObject(rsKey)).toEqual(relabelled);

        const scaled = await store.updateObject(rsKey, relabelled.resourceVersion, { spec: { replicas: 5 } });
        expect(scaled).toMatchObject({ generation: 2, spec: { replicas: 5 }, specHash: specHash({ replicas: 5 }), labels: relabelled.labels });
        expect(scaled.resourceVersion).toBeGreaterThan(relabelled.resourceVersion);
        expect(await store.getObject(rsKey)).toEqual(scaled);

        // Nothing to change: nothing written, resource version kept; a stale version is still refused.
        const same = await store.updateObject(rsKey, scaled.resourceVersion, { spec: { replicas: 5 }, annotations: {} });
        expect(same).toEqual(scaled);
        await expect(store.updateObject(rsKey, relabelled.resourceVersion, { spec: { replicas: 5 } })).rejects.toBeInstanceOf(
          ConflictError,
        );
      });

      it("refuses to update a missing or deleted object with NotFound", async () => {
        const missing = store.updateObject(rsKey, 1, { spec: {} });
        await expect(missing).rejects.toBeInstanceOf(NotFoundError);
        await expect(missing).rejects.toMatchObject({ code: "NotFound", transient: false, data: rsKey });
        const created = await store.createObject(replicaSet("web-5d8f", {}));
        await store.deleteObject(rsKey);
        await expect(store.updateObject(rsKey, created.resourceVersion, { spec: { replicas: 1 } })).rejects.toBeInstanceOf(
          NotFoundError,
        );
      });

      it("lets exactly one of two updates holding the same resource version win", async () => {
        const pod = await store.createObject(podOf("web-5d8f-abcde", null));
        const bind = (nodeName: string) => store.updateObject(podKey("web-5d8f-abcde"), pod.resourceVersion, { spec: { ...pod.spec, nodeName } });
        const results = await Promise.allSettled([bind("node-a"), bind("node-b")]);
        const won = results.filter((result) => result.status === "fulfilled");
        const lost = results.filter((result) => result.status === "rejected");
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
        const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof bind>>>).value;
        expect((await store.getObject(podKey("web-5d8f-abcde")))?.spec).toEqual(winner.spec);
        expect(winner.generation).toBe(2);
      });

      it("updates a git-sourced object, and the next commit declaring it writes Git's version back", async () => {
        await store.applyRevision(commit("a1"), [configMap("app", { color: "blue" })], []);
        const fromGit = (await store.getObject(appKey))!;
        const edited = await store.updateObject(appKey, fromGit.resourceVersion, { spec: { data: { color: "red" } } });
        expect(edited).toMatchObject({ source: "git", revisionSha: "a1", generation: 2, spec: { data: { color: "red" } } });

        const summary = await store.applyRevision(commit("a2"), [configMap("app", { color: "blue" })], []);
        expect(summary).toEqual({ created: 0, updated: 1, unchanged: 0, deleted: 0 });
        expect(await store.getObject(appKey)).toMatchObject({ spec: { data: { color: "blue" } }, generation: 3, revisionSha: "a2" });
      });

      it("soft-deletes an object, only the named incarnation when a uid is given", async () => {
        const pod = await store.createObject(podOf("p1", null));
        expect(await store.deleteObject(podKey("p1"), { uid: otherIncarnation })).toBe(false);
        expect(await store.getObject(podKey("p1"))).not.toBeNull();

        expect(await store.deleteObject(podKey("p1"), { uid: pod.uid })).toBe(true);
        expect(await store.getObject(podKey("p1"))).toBeNull();
        expect(await store.getObjectByUid(pod.uid)).toBeNull();
        expect(await store.listObjects({ kind: "Pod" })).toEqual([]);
        expect(await store.deleteObject(podKey("p1"))).toBe(false);
        expect(await store.deleteObject(podKey("p1"), { uid: pod.uid })).toBe(false);

        const second = await store.createObject(podOf("p1", null));
        expect(await store.deleteObject(podKey("p1"), { uid: pod.uid })).toBe(false);
        expect(await store.deleteObject(podKey("p1"))).toBe(true);
        expect(await store.getObjectByUid(second.uid)).toBeNull();
      });

      it("finds a live object by uid", async () => {
        const rs = await store.createObject(replicaSet("web-5d8f", {}));
        expect(await store.getObjectByUid(rs.uid)).toEqual(rs);
        expect(await store.getObjectByUid(otherIncarnation)).toBeNull();
        expect(await store.getObjectByUid("not-a-uid")).toBeNull();
      });

      it("changes an object's owner when asked, and only then, without bumping its generation", async () => {
        const owner = await store.createObject(replicaSet("web-5d8f", { replicas: 1 }));
        const pod = await store.createObject(podOf("p1", null));
        const adopted = await store.updateObject(podKey("p1"), pod.resourceVersion, { ownerUid: owner.uid });
        expect(adopted).toMatchObject({ ownerUid: owner.uid, generation: 1 });
        expect(adopted.resourceVersion).toBeGreaterThan(pod.resourceVersion);
        expect((await store.listObjects({ ownerUid: owner.uid })).map((object) => object.name)).toEqual(["p1"]);
        const relabelled = await store.updateObject(podKey("p1"), adopted.resourceVersion, { labels: { app: "web" } });
        expect(relabelled.ownerUid).toBe(owner.uid);
        expect(await store.updateObject(podKey("p1"), relabelled.resourceVersion, { ownerUid: owner.uid })).toEqual(relabelled);
        const released = await store.updateObject(podKey("p1"), relabelled.resourceVersion, { ownerUid: null });
        expect(released.ownerUid).toBeNull();
        expect(await store.listObjects({ ownerUid: owner.uid })).toEqual([]);
      });

      it("lists the dependents of an owner", async () => {
        const web = await store.createObject(replicaSet("web-5d8f", {}));
        const api = await store.createObject(replicaSet("api-77c9", {}));
        await store.createObject(podOf("web-5d8f-b", web.uid));
        await store.createObject(podOf("web-5d8f-a", web.uid));
        await store.createObject(podOf("api-77c9-a", api.uid));
        await store.createObject(podOf("loose", null));
        const names = async (filter: Parameters<DesiredStore["listObjects"]>[0]) =>
          (await store.listObjects(filter)).map((object) => object.name);
        expect(await names({ ownerUid: web.uid })).toEqual(["web-5d8f-a", "web-5d8f-b"]);
        expect(await names({ ownerUid: web.uid, kind: "ReplicaSet" })).toEqual([]);
        expect(await names({ ownerUid: api.uid, kind: "Pod", namespace: "shop" })).toEqual(["api-77c9-a"]);
        expect(await names({ ownerUid: otherIncarnation })).toEqual([]);
        expect(await names({ ownerUid: "not-a-uid" })).toEqual([]);
        await store.deleteObject(podKey("web-5d8f-a"));
        expect(await names({ ownerUid: web.uid })).toEqual(["web-5d8f-b"]);
      });

      it("writes observedGeneration with a status update, and skips it when nothing changes", async () => {
        const rs = await store.createObject(replicaSet("web-5d8f", { replicas: 1 }));
        expect(await store.updateStatuses([{ key: rsKey, status: {}, observedGeneration: 1 }])).toBe(1);
        const observed = (await store.getObject(rsKey))!;
        expect(observed).toMatchObject({ observedGeneration: 1, status: {}, generation: 1 });
        expect(observed.resourceVersion).toBeGreaterThan(rs.resourceVersion);
        expect(await store.updateStatuses([{ key: rsKey, status: {}, observedGeneration: 1 }])).toBe(0);

        // Status without observedGeneration keeps it; both at once are one write.
        expect(await store.updateStatuses([{ key: rsKey, status: { replicas: 1 } }])).toBe(1);
        expect(await store.getObject(rsKey)).toMatchObject({ observedGeneration: 1, status: { replicas: 1 } });
        await store.updateObject(rsKey, (await store.getObject(rsKey))!.resourceVersion, { spec: { replicas: 2 } });
        expect(await store.updateStatuses([{ key: rsKey, uid: rs.uid, status: { replicas: 2 }, observedGeneration: 2 }])).toBe(1);
        expect(await store.getObject(rsKey)).toMatchObject({ generation: 2, observedGeneration: 2, status: { replicas: 2 } });
        expect(await store.updateStatuses([{ key: rsKey, uid: otherIncarnation, status: {}, observedGeneration: 3 }])).toBe(0);
      });

      it("purges soft-deleted objects deleted before a time, and nothing else", async () => {
        await store.createObject(podOf("p1", null));
        await store.createObject(podOf("p2", null));
        const kept = await store.createObject(podOf("p3", null));
        await store.deleteObject(podKey("p1"));
        await store.deleteObject(podKey("p2"));
        const minute = 60_000;
        expect(await store.purgeDeleted(new Date(Date.now() - 10 * minute))).toBe(0);
        expect(await store.purgeDeleted(new Date(Date.now() + 10 * minute))).toBe(2);
        expect(await store.purgeDeleted(new Date(Date.now() + 10 * minute))).toBe(0);
        expect(await store.getObjectByUid(kept.uid)).toEqual(kept);
      });

      it("keeps a soft-deleted object whose status lists finalizers, lists it among the deleted, and purges it on request", async () => {
        const finalized = await store.createObject(podOf("p1", null));
        await store.updateStatuses([{ key: podKey("p1"), status: { finalizers: ["capstan.dev/claim-directory"] } }]);
        const plain = await store.createObject(podOf("p2", null));
        await store.createObject(podOf("p3", null));
        await store.deleteObject(podKey("p1"));
        await store.deleteObject(podKey("p2"));
        const deleted = await store.listObjects({ kind: "Pod", deleted: true });
        expect(deleted.map((object) => [object.name, object.deletedAt !== null])).toEqual([["p1", true], ["p2", true]]);
        expect((await store.listObjects({ kind: "Pod" })).map((object) => object.name)).toEqual(["p3"]);

        expect(await store.purgeDeleted(new Date(Date.now() + 10 * 60_000))).toBe(1);
        expect((await store.listObjects({ kind: "Pod", deleted: true })).map((object) => object.uid)).toEqual([finalized.uid]);
        expect(await store.purgeObject(plain.uid)).toBe(false);
        expect(await store.purgeObject(finalized.uid)).toBe(true);
        expect(await store.purgeObject(finalized.uid)).toBe(false);
        expect(await store.listObjects({ kind: "Pod", deleted: true })).toEqual([]);
      });
    });

    describe("events", () => {
      const t = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 10, minutes));
      const backOff = (at: Date, extra: Partial<NewEvent> = {}): NewEvent => ({
        kind: "Pod",
        namespace: "shop",
        name: "web-1",
        type: "Warning",
        reason: "BackOff",
        message: "Back-off restarting failed container",
        source: "node-agent",
        at,
        ...extra,
      });

      it("folds repeats into one event, counting them, and restarts the count after an hour of quiet", async () => {
        await store.recordEvent(backOff(t(0), { objectUid: otherIncarnation }));
        await store.recordEvent(backOff(t(5)));
        await store.recordEvent(backOff(t(9)));
        await store.recordEvent(backOff(t(9), { message: "Back-off pulling image" }));
        await store.recordEvent(backOff(t(9), { source: "scheduler" }));
        const [latest, ...rest] = await store.listEvents({ name: "web-1" });
        expect(rest).toHaveLength(2);
        const folded = [latest!, ...rest].find((event) => event.source === "node-agent" && event.message.startsWith("Back-off restarting"));
        expect(folded).toEqual({
          id: expect.any(Number),
          objectUid: otherIncarnation,
          kind: "Pod",
          namespace: "shop",
          name: "web-1",
          type: "Warning",
          reason: "BackOff",
          message: "Back-off restarting failed container",
          count: 3,
          firstTime: t(0),
          lastTime: t(9),
          source: "node-agent",
        });

        await store.recordEvent(backOff(t(9 + 61)));
        const restarted = (await store.listEvents({ limit: 1 }))[0];
        expect(restarted).toMatchObject({ id: folded!.id, count: 1, firstTime: t(70), lastTime: t(70) });
      });

      it("lists events newest first, filtered by object, with paging", async () => {
        await store.recordEvent(backOff(t(1), { name: "web-1" }));
        await store.recordEvent(backOff(t(2), { name: "web-2" }));
        await store.recordEvent(backOff(t(3), { kind: "Deployment", name: "web", type: "Normal", reason: "ScalingReplicaSet", message: "up to 2" }));
        await store.recordEvent(backOff(t(3), { namespace: "other", name: "web-1" }));
        await store.recordEvent(backOff(t(4), { name: "web-1" })); // a repeat moves web-1's event to the top

        const label = (events: Array<{ kind: string; namespace: string; name: string }>) =>
          events.map((event) => `${event.kind}/${event.namespace}/${event.name}`);
        const all = await store.listEvents();
        expect(label(all)).toEqual(["Pod/shop/web-1", "Pod/other/web-1", "Deployment/shop/web", "Pod/shop/web-2"]);
        // Same lastTime: the later-recorded first.
        expect(all[1]!.id).toBeGreaterThan(all[2]!.id);

        expect(label(await store.listEvents({ kind: "Pod", namespace: "shop" }))).toEqual(["Pod/shop/web-1", "Pod/shop/web-2"]);
        expect(label(await store.listEvents({ name: "web-1" }))).toEqual(["Pod/shop/web-1", "Pod/other/web-1"]);
        expect(await store.listEvents({ kind: "Node" })).toEqual([]);

        const first = await store.listEvents({ limit: 2 });
        const second = await store.listEvents({ limit: 2, before: first[1]!.id });
        const third = await store.listEvents({ limit: 2, before: second[1]!.id });
        expect([...first, ...second]).toEqual(all);
        expect(third).toEqual([]);
        expect(label(await store.listEvents({ kind: "Pod", limit: 1, before: all[0]!.id }))).toEqual(["Pod/other/web-1"]);
      });
    });

    it("purges events last seen before a time, keeping the newer ones", async () => {
      const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
      const event = (reason: string, minute: number) =>
        store.recordEvent({ objectUid: null, kind: "Pod", namespace: "default", name: "p", type: "Normal", reason, message: reason, source: "test", at: at(minute) });
      await event("Old", 0);
      await event("Recent", 50);
      expect(await store.purgeEvents(at(30))).toBe(1);
      expect((await store.listEvents()).map((stored) => stored.reason)).toEqual(["Recent"]);
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
const rsKey = { kind: "ReplicaSet", namespace: "shop", name: "web-5d8f" };
const podKey = (name: string) => ({ kind: "Pod", namespace: "shop", name });
const otherIncarnation = "00000000-0000-4000-8000-000000000000";

function replicaSet(name: string, spec: Record<string, unknown>): NewObject {
  return { apiVersion: "apps/v1", kind: "ReplicaSet", namespace: "shop", name, labels: { app: "web" }, spec };
}

function podOf(name: string, ownerUid: string | null): NewObject {
  return { apiVersion: "v1", kind: "Pod", namespace: "shop", name, spec: { containers: [{ name: "web", command: ["web"] }] }, ownerUid };
}

function annotated(object: DesiredObject, annotations: Record<string, string>): DesiredObject {
  return { ...object, annotations };
}

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
