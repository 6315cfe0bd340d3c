/**
 * No partial apply: a commit that mixes valid manifests with one or more bad
 * ones, synced by the real GitSync from a real repository into PostgreSQL,
 * is rejected whole; the live revision and every stored object stay as they
 * were. `FAULT_COMMITS` sets the number of generated commits (default 300).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.ts";
import { PgDesiredStore } from "../../src/desired/index.ts";
import { GitSync } from "../../src/gitsync/sync.ts";
import { openGitSource } from "../../src/gitsync/source.ts";
import { silentLogger } from "../../src/logging.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { useTestDatabase } from "../helpers/test-database.ts";
import { breakYaml, mutation, serialize, validManifest, yamlBreakage, type Manifest } from "./manifest-arbitraries.ts";

const runs = Number(process.env.FAULT_COMMITS ?? 300);
const database = useTestDatabase();

let repo: TestRepo;
let cache: Awaited<ReturnType<typeof tempDir>>;
let store: PgDesiredStore;
let sync: GitSync;

beforeAll(async () => {
  await database().pool.query("TRUNCATE revisions, objects, events, sync_state RESTART IDENTITY CASCADE");
  store = new PgDesiredStore(database().pool);
  repo = await createRepo();
  cache = await tempDir("capstan-faults-commits-");
  const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
  sync = new GitSync({
    source,
    store,
    clock: systemClock,
    log: silentLogger,
    describe: { url: source.url, branch: source.branch, path: source.path },
    pollIntervalMs: 60_000,
  });
});

afterAll(async () => {
  await sync?.stop();
  await repo?.cleanup();
  await cache?.cleanup();
});

/** Everything stored, in a stable order: what "unchanged" compares. */
async function snapshot(): Promise<unknown[]> {
  const objects = await store.listObjects({});
  return objects
    .map((object) => ({ kind: object.kind, namespace: object.namespace, name: object.name, spec: object.spec, labels: object.labels }))
    .sort((a, b) => `${a.kind}/${a.namespace}/${a.name}`.localeCompare(`${b.kind}/${b.namespace}/${b.name}`));
}

/** Each manifest gets a name of its own, so that only the planted fault can make the commit invalid. */
function renamed(manifest: Manifest, run: number, index: number): Manifest {
  const metadata = manifest.metadata as Record<string, unknown>;
  return { ...manifest, metadata: { ...metadata, name: `r${run}-${index}-${String(metadata.name).slice(0, 20)}` } };
}

const badFile = fc.oneof(
  validManifest.chain((manifest) => mutation(manifest)).map(({ manifest }) => ({ manifest, breakage: undefined })),
  fc.record({ manifest: validManifest, breakage: yamlBreakage }),
);

const commitCase = fc.record({
  good: fc.array(validManifest, { minLength: 1, maxLength: 4 }),
  bad: fc.array(badFile, { minLength: 1, maxLength: 2 }),
  json: fc.boolean(),
});

describe("a commit mixing valid and invalid files", () => {
  it(`is rejected whole, the previous objects unchanged (${runs} commits)`, async () => {
    await repo.write("base/app.yaml", serialize({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "base" }, data: { v: "1" } }, false));
    const base = await repo.commit("base");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", sha: base });
    const before = await snapshot();
    let run = 0;
    let previous: string[] = [];

    await fc.assert(
      fc.asyncProperty(commitCase, async ({ good, bad, json }) => {
        run++;
        for (const path of previous) await repo.remove(path);
        const files: Record<string, string> = {};
        good.forEach((manifest, index) => (files[`run/good-${index}.${json ? "json" : "yaml"}`] = serialize(renamed(manifest, run, index), json)));
        bad.forEach(({ manifest, breakage }, index) => {
          const text = serialize(manifest, false);
          files[`run/bad-${index}.yaml`] = breakage ? breakYaml(text, breakage) : text;
        });
        await repo.writeAll(files);
        previous = Object.keys(files);
        const sha = await repo.commit(`run ${run}`);

        const outcome = await sync.syncOnce();
        expect(outcome).toMatchObject({ result: "rejected", sha });
        if (outcome.result !== "rejected") return;
        // Refused with errors in the bad files, each located.
        const errors = outcome.problems.filter((problem) => problem.severity === "error");
        expect(errors.length).toBeGreaterThan(0);
        for (const error of errors) {
          expect(error.file.startsWith("run/bad-")).toBe(true);
          expect(error.line).toBeGreaterThanOrEqual(1);
        }
        expect(await snapshot()).toEqual(before);
        const [latest] = await store.listRevisions({ limit: 1 });
        expect(latest).toMatchObject({ sha, state: "rejected" });
      }),
      { numRuns: runs },
    );

    // With the bad files gone the next commit applies, so the refusals above were the bad files' doing.
    for (const path of previous.filter((file) => file.includes("/bad-"))) await repo.remove(path);
    const fixed = await repo.commit("without the bad files");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied", sha: fixed });
    expect((await snapshot()).length).toBeGreaterThan(before.length);
  }, 170_000);
});

describe("a commit with a symlink that leads out of the repository", () => {
  const links: Array<{ name: string; target: string; message: RegExp }> = [
    { name: "an absolute target", target: "/etc/passwd", message: /outside the manifests directory \(to \/etc\/passwd\)/ },
    { name: "a relative target climbing out", target: "../../../../../../etc/passwd", message: /outside the manifests directory/ },
    { name: "a climb hidden in the middle", target: "sub/../../../etc/hostname", message: /outside the manifests directory/ },
    { name: "a link to a link that leads out", target: "hop.yaml", message: /outside the manifests directory/ },
    { name: "a loop", target: "loop-b.yaml", message: /symlink chain longer than/ },
  ];

  it("is refused whole with a located error, whatever the link looks like, and the live objects stay", async () => {
    await repo.git("rm", "-r", "-q", "--ignore-unmatch", "run", "links");
    await repo.writeAll({ "links/live.yaml": serialize({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "live" }, data: { v: "1" } }, false) });
    await repo.commit("a clean tree");
    expect(await sync.syncOnce()).toMatchObject({ result: "applied" });
    const before = await snapshot();
    await repo.symlink("links/hop.yaml", "/etc/hostname");
    await repo.symlink("links/loop-a.yaml", "loop-b.yaml");
    await repo.symlink("links/loop-b.yaml", "loop-a.yaml");
    await repo.commit("helper links");
    for (const { name, target, message } of links) {
      await repo.symlink("links/escape.yaml", target);
      const sha = await repo.commit(`link: ${name}`);
      const outcome = await sync.syncOnce();
      expect(outcome, name).toMatchObject({ result: "rejected", sha });
      if (outcome.result !== "rejected") continue;
      expect(outcome.problems.find((problem) => problem.file === "links/escape.yaml"), name).toMatchObject({
        line: 1,
        severity: "error",
        message: expect.stringMatching(message),
      });
      // The file outside was never read: nothing of it is in the errors.
      expect(JSON.stringify(outcome.problems)).not.toMatch(/root:x:0/);
      expect(await snapshot()).toEqual(before);
    }
  }, 60_000);
});
