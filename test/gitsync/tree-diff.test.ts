import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObjectStore } from "../../src/gitsync/object-store.ts";
import { diffTrees, listTreeBlobs, resolveSubtree } from "../../src/gitsync/tree-diff.ts";
import { createRepo, importFiles, type TestRepo } from "../helpers/git-fixture.ts";

describe("diffTrees", () => {
  let repo: TestRepo;
  let store: ObjectStore;
  const treeOf = (sha: string) => store.readCommit(sha).tree;
  const summary = (from: string | null, to: string) =>
    diffTrees(store, from && treeOf(from), treeOf(to)).map(({ path, oid, symlink }) => ({
      path,
      state: oid === null ? "deleted" : symlink ? "symlink" : "present",
    }));

  beforeAll(async () => {
    repo = await createRepo();
    store = new ObjectStore(`${repo.dir}/.git`);
  });
  afterAll(async () => {
    store.close();
    await repo.cleanup();
  });

  it("reports additions, modifications and deletions at every depth, sorted by path", async () => {
    await repo.writeAll({ "top.yaml": "1", "a/b/c/deep.yaml": "1", "a/b/sibling.yaml": "1", "z/same.yaml": "1" });
    const before = await repo.commit("Base");
    await repo.write("top.yaml", "2");
    await repo.write("a/b/c/deep.yaml", "2");
    await repo.remove("a/b/sibling.yaml");
    await repo.write("a/new/file.yaml", "1");
    const after = await repo.commit("Change");

    expect(summary(before, after)).toEqual([
      { path: "a/b/c/deep.yaml", state: "present" },
      { path: "a/b/sibling.yaml", state: "deleted" },
      { path: "a/new/file.yaml", state: "present" },
      { path: "top.yaml", state: "present" },
    ]);
    expect(summary(after, before)).toEqual([
      { path: "a/b/c/deep.yaml", state: "present" },
      { path: "a/b/sibling.yaml", state: "present" },
      { path: "a/new/file.yaml", state: "deleted" },
      { path: "top.yaml", state: "present" },
    ]);
    expect(summary(after, after)).toEqual([]);
  });

  it("carries the new blob id, which reads back as the new content", async () => {
    await repo.write("cm.yaml", "old");
    const before = await repo.commit("Old");
    await repo.write("cm.yaml", "new");
    const after = await repo.commit("New");

    const [change] = diffTrees(store, treeOf(before), treeOf(after));
    expect(change!.oid).toBe(await repo.git("rev-parse", `${after}:cm.yaml`));
    expect(store.readAs(change!.oid!, "blob").toString()).toBe("new");
  });

  it("treats a directory replaced by a file as its files deleted and the file added", async () => {
    await repo.writeAll({ "swap/inner/one.yaml": "1", "swap/two.yaml": "2" });
    const before = await repo.commit("Directory");
    await repo.remove("swap");
    await repo.write("swap", "now a file");
    const after = await repo.commit("File");

    expect(summary(before, after).filter((change) => change.path.startsWith("swap"))).toEqual([
      { path: "swap", state: "present" },
      { path: "swap/inner/one.yaml", state: "deleted" },
      { path: "swap/two.yaml", state: "deleted" },
    ]);
    expect(summary(after, before).filter((change) => change.path.startsWith("swap"))).toEqual([
      { path: "swap", state: "deleted" },
      { path: "swap/inner/one.yaml", state: "present" },
      { path: "swap/two.yaml", state: "present" },
    ]);
  });

  it("reports a file turned into a symlink, and ignores a mode change alone", async () => {
    await repo.writeAll({ "kinds/link.yaml": "target.yaml", "kinds/script.yaml": "x" });
    const before = await repo.commit("Files");
    // Same bytes as before, so only the kind differs.
    await repo.symlink("kinds/link.yaml", "target.yaml");
    await repo.git("update-index", "--chmod=+x", "kinds/script.yaml");
    const after = await repo.commit("Symlink and chmod");

    expect(summary(before, after)).toEqual([{ path: "kinds/link.yaml", state: "symlink" }]);
  });

  it("lists a null tree as empty: from null everything is added", async () => {
    await repo.writeAll({ "n/a.yaml": "a", "n/b.yaml": "b" });
    const sha = await repo.commit("Two");
    const subtree = resolveSubtree(store, treeOf(sha), "n");
    expect(diffTrees(store, null, subtree as string).map((change) => change.path)).toEqual(["a.yaml", "b.yaml"]);
    expect(diffTrees(store, subtree as string, null).every((change) => change.oid === null)).toBe(true);
    expect(resolveSubtree(store, treeOf(sha), "n/a.yaml")).toBe("not-a-tree");
    expect(resolveSubtree(store, treeOf(sha), "nope")).toBe("missing");
  });
});

describe("diffTrees on 10,000 files in nested directories", () => {
  let repo: TestRepo;
  let store: ObjectStore;
  let before: string;
  let after: string;

  beforeAll(async () => {
    repo = await createRepo();
    const files = function* (): Generator<[string, string]> {
      for (let index = 0; index < 10_000; index++) {
        yield [`ns-${index % 10}/app-${Math.floor(index / 10) % 50}/cm-${index}.yaml`, `name: cm-${index}\n`];
      }
    };
    before = await importFiles(repo, files(), "Ten thousand manifests", { checkout: false });
    after = await importFiles(repo, [["ns-3/app-42/cm-423.yaml", "name: cm-423\nchanged: true\n"]], "One change", {
      checkout: false,
    });
    store = new ObjectStore(`${repo.dir}/.git`);
  });
  afterAll(async () => {
    store.close();
    await repo.cleanup();
  });

  it("lists all of them", () => {
    const blobs = listTreeBlobs(store, store.readCommit(after).tree);
    expect(blobs).toHaveLength(10_000);
    expect(blobs[0]!.path).toBe("ns-0/app-0/cm-0.yaml");
  });

  it("finds a one-file change by opening only the trees on its path", () => {
    const fromTree = store.readCommit(before).tree;
    const toTree = store.readCommit(after).tree;
    const opened: string[] = [];
    const counting = Object.create(store) as ObjectStore;
    counting.readTree = (oid) => {
      opened.push(oid);
      return store.readTree(oid);
    };

    const started = performance.now();
    const changes = diffTrees(counting, fromTree, toTree);
    const elapsedMs = performance.now() - started;

    expect(changes.map((change) => change.path)).toEqual(["ns-3/app-42/cm-423.yaml"]);
    // root, ns-3, app-42 on each side: the other 559 trees stay closed.
    expect(opened).toHaveLength(6);
    // Tens of milliseconds is the target; this bound only catches a walk of the whole tree on a loaded CI box.
    expect(elapsedMs).toBeLessThan(200);
  });
});
