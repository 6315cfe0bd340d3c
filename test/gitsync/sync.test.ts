import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore, ValidationPool } from "../../src/desired/index.ts";
import { silentLogger } from "../../src/logging.ts";
import { GitSync, type GitSyncOptions } from "../../src/gitsync/sync.ts";
import { openGitSource, type GitSource } from "../../src/gitsync/source.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.ts";
import { useTestDatabase } from "../helpers/test-database.ts";

const database = useTestDatabase();

const configMap = (name: string, value: string, namespace = "default") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  value: "${value}"\n`;

let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let store: PgDesiredStore;
const cleanups: Array<() => Promise<void>> = [];

beforeEach(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state RESTART IDENTITY CASCADE");
  store = new PgDesiredStore(database().pool);
  repo = await createRepo();
  cache = await tempDir("capstan-sync-cache-");
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await repo.cleanup();
  await cache.cleanup();
});

function makeSync(source: GitSource, options: Partial<GitSyncOptions> = {}): GitSync {
  const sync = new GitSync({
    source,
    store,
    clock: systemClock,
    log: silentLogger,
    describe: { url: source.url, branch: source.branch, path: source.path },
    pollIntervalMs: 60_000,
    ...options,
  });
  cleanups.push(() => sync.stop());
  return sync;
}

function localSync(options: { path?: string } = {}): { sync: GitSync; blobReads: () => number } {
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path, ...options });
  let reads = 0;
  const counted: GitSource = Object.assign(Object.create(source) as GitSource, {
    readBlob: (oid: string) => {
      reads++;
      return source.readBlob(oid);
    },
  });
  return { sync: makeSync(counted), blobReads: () => reads };
}

async function values(): Promise<Record<string, string>> {
  const objects = await store.listObjects({ kind: "ConfigMap" });
  return Object.fromEntries(objects.map((object) => [object.name, (object.spec as { data: { value: string } }).data.value]));
}

describe("GitSync", () => {
  it("applies each new tip as a revision with the commit's author, message and objects", async () => {
    const { sync } = localSync();
    const shas: string[] = [];
    for (const value of ["one", "two", "three"]) {
      await repo.write("app.yaml", configMap("app", value));
      shas.push(await repo.commit(`set app to ${value}`));
      expect(await sync.syncOnce()).toMatchObject({ result: "applied", sha: shas.at(-1) });
      expect(await values()).toEqual({ app: value });
    }
    const revisions = await store.listRevisions({ limit: 10 });
    expect(revisions.map((revision) => [revision.sha, revision.state])).toEqual(shas.reverse().map((sha) => [sha, "applied"]));
    expect(revisions[0]).toMatchObject({ message: "set app to three", authorName: "Capstan Test", objectCount: 1 });
    expect(await sync.syncOnce()).toEqual({ result: "unchanged", sha: shas[0] });
  });

  it("records commits that arrived together as superseded and applies only the tip", async () => {
    const { sync } = localSync();
    await repo.write("app.yaml", configMap("app", "base"));
    const base = await repo.commit("base");
    await sync.syncOnce();
    const pushed: string[] = [];
    for (const value of ["a", "b", "c"]) {
      await repo.write("app.yaml", configMap("app", value));
      pushed.push(await repo.commit(value));
    }
    await sync.syncOnce();
    const states = Object.fromEntries((await store.listRevisions({ limit: 10 })).map((revision) => [revision.sha, revision.state]));
    expect(states).toEqual({ [base]: "applied", [pushed[0]!]: "superseded", [pushed[1]!]: "superseded", [pushed[2]!]: "applied" });
    expect(await values()).toEqual({ app: "c" });
  });

  it("deletes the objects of a removed file", async () => {
    const { sync } = localSync();
    await repo.writeAll({ "a.yaml": configMap("a", "1"), "b.yaml": configMap("b", "1") });
    await repo.commit("two maps");
    await sync.syncOnce();
    await repo.remove("b.yaml");
    await repo.commit("drop b");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", deleted: 1, unchanged: 1 });
    expect(await values()).toEqual({ a: "1" });
  });

  it("rejects a commit with one bad file whole, keeps the previous revision live, and applies the fix", async () => {
    const { sync } = localSync();
    await repo.writeAll({ "a.yaml": configMap("a", "1"), "b.yaml": configMap("b", "1") });
    const good = await repo.commit("good");
    await sync.syncOnce();

    await repo.writeAll({ "a.yaml": configMap("a", "2"), "b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  nmespace: x\n" });
    const bad = await repo.commit("typo");
    const outcome = await sync.syncOnce();
    expect(outcome).toMatchObject({ result: "rejected", sha: bad });
    expect(await values()).toEqual({ a: "1", b: "1" });
    const rejected = await store.getRevision(bad);
    expect(rejected?.state).toBe("rejected");
    expect(rejected?.errors).toEqual([expect.objectContaining({ file: "b.yaml", line: 5, column: 3, path: "metadata.nmespace", severity: "error" })]);
    expect(rejected?.errors[0]?.message).toMatch(/nmespace/);
    expect((await store.getSyncState())?.lastSeenSha).toBe(bad);
    // Not validated again while the branch stays at the bad commit.
    expect(await sync.syncOnce()).toEqual({ result: "unchanged", sha: bad });
    expect((await store.getRevision(good))?.state).toBe("applied");

    await repo.write("b.yaml", configMap("b", "2"));
    await repo.commit("fix typo");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied" });
    expect(await values()).toEqual({ a: "2", b: "2" });
  });

  it("refuses a change to an immutable ConfigMap or Secret at the changed field, never quoting a value, and allows removing one", async () => {
    const { sync } = localSync();
    const immutableMap = (value: string, immutable = true) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: ${immutable}\ndata:\n  value: "${value}"\n`;
    const immutableSecret = (password: string) =>
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nimmutable: true\ndata:\n  user: YWRtaW4=\nstringData:\n  password: "${password}"\n`;
    await repo.writeAll({ "frozen.yaml": immutableMap("one"), "creds.yaml": immutableSecret("first-s3cret-value") });
    const live = await repo.commit("immutable config");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied" });

    await repo.writeAll({ "frozen.yaml": immutableMap("two"), "creds.yaml": immutableSecret("second-s3cret-value") });
    const changed = await repo.commit("change both");
    expect(await sync.syncOnce()).toMatchObject({ result: "rejected", sha: changed });
    const errors = (await store.getRevision(changed))!.errors;
    expect(errors).toHaveLength(2);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: "creds.yaml", line: 9, column: 3, path: "stringData.password", severity: "error" }),
        expect.objectContaining({ file: "frozen.yaml", line: 7, column: 3, path: "data.value", severity: "error" }),
      ]),
    );
    expect(errors.map((error) => error.message).join("\n")).toMatch(/field is immutable when `immutable` is set: Secret "creds" .* changes data key "password"/);
    expect(JSON.stringify(errors)).not.toMatch(/s3cret|"two"|"one"/);
    expect((await store.getSyncState())?.liveSha).toBe(live);

    // Clearing the mark is a change too; removing the object is not.
    await repo.writeAll({ "frozen.yaml": immutableMap("one", false), "creds.yaml": immutableSecret("first-s3cret-value") });
    const cleared = await repo.commit("clear the mark");
    expect(await sync.syncOnce()).toMatchObject({ result: "rejected" });
    expect((await store.getRevision(cleared))!.errors).toEqual([expect.objectContaining({ file: "frozen.yaml", path: "immutable", line: 5 })]);
    await repo.remove("frozen.yaml");
    await repo.commit("remove frozen");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", deleted: 1 });
    await repo.write("frozen.yaml", immutableMap("two"));
    await repo.commit("frozen again, changed");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", created: 1 });
  });

  it("converges to an older tree after a force-push", async () => {
    const { sync } = localSync();
    await repo.write("app.yaml", configMap("app", "old"));
    const old = await repo.commit("old");
    await sync.syncOnce();
    await repo.writeAll({ "app.yaml": configMap("app", "new"), "extra.yaml": configMap("extra", "x") });
    await repo.commit("new");
    await sync.syncOnce();
    expect(await values()).toEqual({ app: "new", extra: "x" });

    await repo.resetTo(old);
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", sha: old });
    expect(await values()).toEqual({ app: "old" });
  });

  it("parses only the files a commit changed", async () => {
    const { sync, blobReads } = localSync();
    const files: Record<string, string> = {};
    for (let index = 0; index < 50; index++) files[`maps/m${index}.yaml`] = configMap(`m${index}`, "1");
    await repo.writeAll(files);
    await repo.commit("fifty maps");
    await sync.syncOnce();
    expect(blobReads()).toBe(50);
    await repo.write("maps/m7.yaml", configMap("m7", "2"));
    await repo.commit("change one");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", updated: 1, unchanged: 49 });
    expect(blobReads()).toBe(51);
  });

  it("parses a large commit on worker threads with the same verdicts and positions", async () => {
    const validationPool = new ValidationPool({ threads: 2 });
    cleanups.push(() => validationPool.close());
    const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
    const sync = makeSync(source, { validationPool });
    const files: Record<string, string> = {};
    for (let index = 0; index < 300; index++) files[`maps/m${index}.yaml`] = configMap(`m${index}`, "1");
    files["maps/m150.yaml"] = configMap("m150", "1", "nowhere");
    await repo.writeAll(files);
    const bad = await repo.commit("300 maps, one in a missing namespace");
    expect(await sync.syncOnce()).toMatchObject({ result: "rejected" });
    expect((await store.getRevision(bad))?.errors).toEqual([
      expect.objectContaining({ file: "maps/m150.yaml", line: 5, column: 3, path: "metadata.namespace" }),
    ]);
    await repo.write("maps/m150.yaml", configMap("m150", "1"));
    await repo.commit("fix");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", created: 300 });
  });

  it("honours the sources sub-path and .capstanignore, and rejects a commit that removes the sub-path", async () => {
    const { sync } = localSync({ path: "deploy" });
    await repo.writeAll({
      "deploy/app.yaml": configMap("app", "1"),
      "deploy/.capstanignore": "drafts/\n",
      "deploy/drafts/wip.yaml": "not: [valid",
      "docs/example.yaml": "also: [not a manifest",
    });
    await repo.commit("layout");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", created: 1 });

    await repo.git("mv", "deploy", "manifests");
    const moved = await repo.commit("move the manifests");
    expect(await sync.syncOnce()).toMatchObject({ result: "rejected", sha: moved });
    expect((await store.getRevision(moved))?.errors).toEqual([
      expect.objectContaining({ file: "deploy", message: expect.stringMatching(/configured path does not exist/) }),
    ]);
    expect(await values()).toEqual({ app: "1" });
  });

  it("reads a symlink to a file in the tree under its own path, and refuses one that leads out", async () => {
    const { sync } = localSync({ path: "deploy" });
    await repo.writeAll({ "deploy/base/app.txt": configMap("app", "linked"), "outside.yaml": configMap("out", "x") });
    await repo.symlink("deploy/app.yaml", "base/app.txt");
    await repo.commit("linked");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", created: 1 });
    expect((await store.getObject({ kind: "ConfigMap", namespace: "default", name: "app" }))?.sourceFile).toBe("app.yaml");

    await repo.symlink("deploy/out.yaml", "../outside.yaml");
    const escaping = await repo.commit("escape");
    expect(await sync.syncOnce()).toMatchObject({ result: "rejected" });
    expect((await store.getRevision(escaping))?.errors).toEqual([
      expect.objectContaining({ file: "out.yaml", message: expect.stringMatching(/outside the manifests directory/) }),
    ]);
  });

  it("retries a pass the store failed within seconds, not at the next poll, although the poll interval is long", async () => {
    await repo.write("app.yaml", configMap("app", "1"));
    await repo.commit("first");
    // The store fails once, as during a PostgreSQL restart; the retry must not wait out the minute-long poll.
    let failures = 1;
    const flaky = new Proxy(store, {
      get(target, property) {
        if (property === "recordFetch" && failures-- > 0) return () => Promise.reject(new Error("Connection terminated unexpectedly"));
        const value: unknown = Reflect.get(target, property, target);
        // Bound to the real store: its methods read private fields.
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
    const sync = makeSync(source, { store: flaky });
    sync.start();
    await expect.poll(values, { timeout: 10_000 }).toEqual({ app: "1" });
  });

  it("wakes at once on trigger() although the poll interval is long, and stops promptly", async () => {
    const { sync } = localSync();
    await repo.write("app.yaml", configMap("app", "1"));
    await repo.commit("first");
    sync.start();
    await expect.poll(values, { timeout: 10_000 }).toEqual({ app: "1" });
    await repo.write("app.yaml", configMap("app", "2"));
    await repo.commit("second");
    sync.trigger();
    await expect.poll(values, { timeout: 10_000 }).toEqual({ app: "2" });
    const started = Date.now();
    await sync.stop();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

/** A `git http-backend` server for each test of the block, serving repositories under a fresh directory. */
function useGitHttpServer(auth?: { username: string; password: string }): { served: () => string; server: () => GitHttpServer } {
  let served: Awaited<ReturnType<typeof tempDir>>;
  let server: GitHttpServer;
  beforeEach(async () => {
    served = await tempDir("capstan-served-");
    server = await startGitHttpServer({ root: served.path, ...(auth ? { auth } : {}) });
  });
  afterEach(async () => {
    await server.close();
    await served.cleanup();
  });
  return { served: () => served.path, server: () => server };
}

describe("GitSync over HTTP without auth", () => {
  const http = useGitHttpServer();

  it("applies three commits as three revisions, deletes a removed file's objects, and follows a force-push back", async () => {
    const origin = await createRepo(`${http.served()}/public.git`);
    cleanups.push(() => origin.cleanup());
    const sync = makeSync(openGitSource({ url: http.server().urlFor(origin.dir), branch: "main", cacheDir: cache.path }));
    const shas: string[] = [];
    for (const value of ["1", "2", "3"]) {
      await origin.writeAll({ "app.yaml": configMap("app", value), "side.yaml": configMap("side", value) });
      shas.push(await origin.commit(`v${value}`));
      expect(await sync.syncOnce()).toMatchObject({ result: "applied", sha: shas.at(-1) });
    }
    expect((await store.listRevisions({ limit: 10 })).map((revision) => revision.state)).toEqual(["applied", "applied", "applied"]);
    expect(await values()).toEqual({ app: "3", side: "3" });

    await origin.remove("side.yaml");
    await origin.commit("drop side");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", deleted: 1 });
    expect(await values()).toEqual({ app: "3" });

    await origin.resetTo(shas[0]!);
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", sha: shas[0] });
    expect(await values()).toEqual({ app: "1", side: "1" });
  });
});

describe("GitSync over HTTP with basic auth", () => {
  const auth = { username: "deploy", password: "s3cret-token-value" };
  const http = useGitHttpServer(auth);

  it("syncs through basic auth, records an outage without the password, keeps the objects, and recovers", async () => {
    const origin = await createRepo(`${http.served()}/shop.git`);
    cleanups.push(() => origin.cleanup());
    await origin.write("app.yaml", configMap("app", "1"));
    await origin.commit("first");
    const source = openGitSource({ url: http.server().urlFor(origin.dir), branch: "main", cacheDir: cache.path, auth });
    const sync = makeSync(source);
    expect(await sync.syncOnce()).toMatchObject({ result: "applied" });

    http.server().setFault("fail");
    await expect(sync.syncOnce()).rejects.toThrow();
    const down = await store.getSyncState();
    expect(down?.lastError).toBeTruthy();
    expect(down?.unreachableSince).toBeInstanceOf(Date);
    expect(JSON.stringify(down)).not.toContain(auth.password);
    expect(await values()).toEqual({ app: "1" });

    http.server().setFault(null);
    await origin.write("app.yaml", configMap("app", "2"));
    await origin.commit("second");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied" });
    expect(await values()).toEqual({ app: "2" });
    expect((await store.getSyncState())?.unreachableSince).toBeNull();
  });

  it("stops promptly while a fetch hangs on an unresponsive remote", async () => {
    const origin = await createRepo(`${http.served()}/slow.git`);
    cleanups.push(() => origin.cleanup());
    await origin.write("app.yaml", configMap("app", "1"));
    await origin.commit("first");
    const source = openGitSource({ url: http.server().urlFor(origin.dir), branch: "main", cacheDir: cache.path, auth, timeoutMs: 5_000 });
    const sync = makeSync(source, { stopGraceMs: 300 });
    http.server().setFault("hang");
    sync.start();
    await expect.poll(() => http.server().requests.length).toBeGreaterThan(0);
    const started = Date.now();
    await sync.stop();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await store.listRevisions({ limit: 5 })).toEqual([]);
  });

  it("fails with a clear error and stores nothing when the credentials are wrong", async () => {
    const origin = await createRepo(`${http.served()}/private.git`);
    cleanups.push(() => origin.cleanup());
    await origin.write("app.yaml", configMap("app", "1"));
    await origin.commit("first");
    const source = openGitSource({ url: http.server().urlFor(origin.dir), branch: "main", cacheDir: cache.path, auth: { ...auth, password: "wrong-password" } });
    const sync = makeSync(source);
    const failure = await sync.syncOnce().then(
      () => null,
      (error: Error) => error,
    );
    expect(failure?.message).toMatch(/auth|401|credential/i);
    expect(failure?.message).not.toContain("wrong-password");
    expect(await store.listRevisions({ limit: 5 })).toEqual([]);
  });
});
