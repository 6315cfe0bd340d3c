import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { GitSourceError, ManifestError } from "../../src/errors.ts";
import { type GitSource, type GitSourceOptions, openGitSource } from "../../src/gitsync/source.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/git-http-server.ts";

const text = (bytes: Uint8Array | null) => (bytes === null ? null : new TextDecoder().decode(bytes));

/**
 * How a test reaches the repository it writes to: read in place, as a bare
 * clone, or served over HTTP (with or without basic auth).
 */
interface Transport {
  name: string;
  /** Opens a source for `repo` (whose commits are visible to it after `publish`). */
  open(repo: TestRepo, options?: Partial<GitSourceOptions>): Promise<GitSource>;
  /** Makes the work tree's current state visible to the source (a push for bare remotes). */
  publish(repo: TestRepo): Promise<void>;
  cleanup(): Promise<void>;
}

function localTransport(): Transport {
  let cache: Awaited<ReturnType<typeof tempDir>> | undefined;
  return {
    name: "a local work tree",
    async open(repo, options = {}) {
      cache ??= await tempDir("capstan-cache-");
      return openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path, ...options });
    },
    async publish() {},
    async cleanup() {
      await cache?.cleanup();
    },
  };
}

function bareTransport(): Transport {
  const bares = new Map<TestRepo, string>();
  let cache: Awaited<ReturnType<typeof tempDir>> | undefined;
  return {
    name: "a local bare repository",
    async open(repo, options = {}) {
      cache ??= await tempDir("capstan-cache-");
      let bare = bares.get(repo);
      if (!bare) {
        bare = await repo.cloneBare();
        bares.set(repo, bare);
      }
      return openGitSource({ url: `file://${bare}`, branch: "main", cacheDir: cache.path, ...options });
    },
    async publish(repo) {
      const bare = bares.get(repo);
      if (bare) await repo.push(bare, { force: true });
    },
    async cleanup() {
      await cache?.cleanup();
    },
  };
}

/** The served repositories live under one root; each test's repo is created inside it. */
function httpTransport(auth?: { username: string; password: string }): Transport & { root: Promise<string> } {
  let root: Awaited<ReturnType<typeof tempDir>> | undefined;
  let server: GitHttpServer | undefined;
  let cache: Awaited<ReturnType<typeof tempDir>> | undefined;
  const ready = (async () => {
    root = await tempDir("capstan-served-");
    cache = await tempDir("capstan-cache-");
    server = await startGitHttpServer({ root: root.path, ...(auth ? { auth } : {}) });
    return root.path;
  })();
  return {
    name: auth ? "HTTP with basic auth" : "HTTP",
    root: ready,
    async open(repo, options = {}) {
      await ready;
      return openGitSource({
        url: server!.urlFor(repo.dir),
        branch: "main",
        cacheDir: cache!.path,
        ...(auth ? { auth } : {}),
        ...options,
      });
    },
    async publish() {},
    async cleanup() {
      await server?.close();
      await root?.cleanup();
      await cache?.cleanup();
    },
  };
}

const transports: Array<() => Transport & { root?: Promise<string> }> = [
  localTransport,
  bareTransport,
  () => httpTransport(),
  () => httpTransport({ username: "deployer", password: "s3cret-pa55word" }),
];

for (const makeTransport of transports) {
  const transport = makeTransport();

  describe(`GitSource over ${transport.name}`, () => {
    let repo: TestRepo;

    beforeEach(async () => {
      const root = transport.root ? await transport.root : undefined;
      repo = await createRepo(root ? join(root, `repo-${Math.random().toString(36).slice(2)}`) : undefined);
    });
    afterEach(async () => {
      await repo.cleanup();
    });
    afterAll(async () => {
      await transport.cleanup();
    });

    async function threeCommits(): Promise<[string, string, string]> {
      await repo.write("apps/web/deployment.yaml", "kind: Deployment\n");
      const first = await repo.commit("Add web", {
        author: { name: "Ada Lovelace", email: "ada@example.com" },
        date: new Date("2024-01-02T03:04:05Z"),
      });
      await repo.write("apps/web/service.yaml", "kind: Service\n");
      const second = await repo.commit("Add web service\n\nWith a body.");
      await repo.write("apps/web/deployment.yaml", "kind: Deployment\nreplicas: 2\n");
      const third = await repo.commit("Scale web");
      await transport.publish(repo);
      return [first, second, third];
    }

    it("fetch returns the branch tip and commitsBetween(null, tip) lists every commit oldest first", async () => {
      const [first, second, third] = await threeCommits();
      const source = await transport.open(repo);

      expect(await source.fetch()).toBe(third);
      const commits = await source.commitsBetween(null, third, 10);
      expect(commits.map((commit) => commit.sha)).toEqual([first, second, third]);
      expect(commits[0]).toEqual({
        sha: first,
        parentSha: null,
        authorName: "Ada Lovelace",
        authorEmail: "ada@example.com",
        message: "Add web",
        committedAt: new Date("2024-01-02T03:04:05Z"),
      });
      expect(commits[1]).toMatchObject({ parentSha: first, message: "Add web service\n\nWith a body." });
      expect(await source.commitInfo(third)).toMatchObject({ sha: third, parentSha: second, message: "Scale web" });
    });

    it("commitsBetween excludes fromSha and keeps the newest `limit` commits", async () => {
      const [first, second, third] = await threeCommits();
      const source = await transport.open(repo);
      await source.fetch();

      expect((await source.commitsBetween(first, third, 10)).map((commit) => commit.sha)).toEqual([second, third]);
      expect((await source.commitsBetween(null, third, 2)).map((commit) => commit.sha)).toEqual([second, third]);
      expect(await source.commitsBetween(third, third, 10)).toEqual([]);
    });

    it("lists every file with its blob id and reads blobs and files", async () => {
      await threeCommits();
      const source = await transport.open(repo);
      const tip = await source.fetch();

      const blobs = await source.listManifestBlobs(tip);
      expect(blobs.map((blob) => blob.path)).toEqual(["apps/web/deployment.yaml", "apps/web/service.yaml"]);
      expect(blobs.every((blob) => !blob.symlink)).toBe(true);
      expect(text(await source.readBlob(blobs[1]!.oid))).toBe("kind: Service\n");
      expect(text(await source.readFileAt(tip, "apps/web/deployment.yaml"))).toBe("kind: Deployment\nreplicas: 2\n");
      expect(await source.readFileAt(tip, "apps/web/missing.yaml")).toBeNull();
      expect(await source.readFileAt(tip, "apps/web")).toBeNull();
    });

    it("changedBlobs finds additions, modifications and deletions in nested directories", async () => {
      await repo.writeAll({
        "a/b/c/keep.yaml": "keep\n",
        "a/b/c/change.yaml": "v1\n",
        "a/b/gone.yaml": "gone\n",
        "x/y/untouched.yaml": "same\n",
      });
      const before = await repo.commit("Base");
      await repo.write("a/b/c/change.yaml", "v2\n");
      await repo.remove("a/b/gone.yaml");
      await repo.write("a/new/deep/added.yaml", "new\n");
      const after = await repo.commit("Change");
      await transport.publish(repo);
      const source = await transport.open(repo);
      await source.fetch();

      const changes = await source.changedBlobs(before, after);
      expect(changes.map(({ path, oid }) => [path, oid === null ? "deleted" : "present"])).toEqual([
        ["a/b/c/change.yaml", "present"],
        ["a/b/gone.yaml", "deleted"],
        ["a/new/deep/added.yaml", "present"],
      ]);
      expect(text(await source.readBlob(changes[0]!.oid!))).toBe("v2\n");
      expect((await source.changedBlobs(null, before)).map((change) => change.path)).toHaveLength(4);
    });

    it("after a force-push to an older commit the older tip is the truth", async () => {
      const [first, , third] = await threeCommits();
      const source = await transport.open(repo);
      expect(await source.fetch()).toBe(third);

      await repo.resetTo(first);
      await transport.publish(repo);
      expect(await source.fetch()).toBe(first);
      expect((await source.commitsBetween(third, first, 10)).map((commit) => commit.sha)).toEqual([first]);
    });

    it("after a history rewrite the new commits are fetched and stand alone", async () => {
      const [first, , third] = await threeCommits();
      const source = await transport.open(repo);
      await source.fetch();

      await repo.resetTo(first);
      await repo.write("apps/web/deployment.yaml", "kind: Deployment\nreplicas: 5\n");
      const rewritten = await repo.commit("Rewritten scale");
      await transport.publish(repo);

      expect(await source.fetch()).toBe(rewritten);
      expect((await source.commitsBetween(third, rewritten, 10)).map((commit) => commit.sha)).toEqual([rewritten]);
      expect(text(await source.readFileAt(rewritten, "apps/web/deployment.yaml"))).toBe("kind: Deployment\nreplicas: 5\n");
    });

    it("with a sub-path, sees only files under it, with paths relative to it", async () => {
      await repo.writeAll({
        "deploy/prod/web.yaml": "web\n",
        "deploy/prod/db/postgres.yaml": "db\n",
        "deploy/staging/web.yaml": "staging\n",
        "README.md": "docs\n",
      });
      const before = await repo.commit("Base");
      await repo.write("README.md", "more docs\n");
      await repo.write("deploy/staging/web.yaml", "staging 2\n");
      const outside = await repo.commit("Outside the sub-path");
      await repo.write("deploy/prod/db/postgres.yaml", "db 2\n");
      const inside = await repo.commit("Inside the sub-path");
      await transport.publish(repo);
      const source = await transport.open(repo, { path: "/deploy/prod/" });
      await source.fetch();

      expect(source.path).toBe("deploy/prod");
      expect((await source.listManifestBlobs(inside)).map((blob) => blob.path)).toEqual(["db/postgres.yaml", "web.yaml"]);
      expect(await source.changedBlobs(before, outside)).toEqual([]);
      expect((await source.changedBlobs(outside, inside)).map((change) => change.path)).toEqual(["db/postgres.yaml"]);
      expect(text(await source.readFileAt(inside, "db/postgres.yaml"))).toBe("db 2\n");
    });

    it("rejects a commit that lacks the sub-path instead of reading it as empty", async () => {
      await repo.write("deploy/web.yaml", "web\n");
      const withPath = await repo.commit("With the path");
      await repo.remove("deploy");
      await repo.write("other.yaml", "other\n");
      const withoutPath = await repo.commit("Without the path");
      await transport.publish(repo);
      const source = await transport.open(repo, { path: "deploy" });
      await source.fetch();

      await expect(source.listManifestBlobs(withoutPath)).rejects.toThrow(ManifestError);
      await expect(source.changedBlobs(withPath, withoutPath)).rejects.toThrow(/configured path does not exist/);
      // Restoring the path later reads as everything added.
      expect((await source.changedBlobs(withoutPath, withPath)).map((change) => change.path)).toEqual(["web.yaml"]);
    });

    it("reports symlinks without following them", async () => {
      await repo.write("manifests/real.yaml", "real\n");
      await repo.symlink("manifests/link.yaml", "/etc/passwd");
      const base = await repo.commit("With a symlink");
      await transport.publish(repo);
      const source = await transport.open(repo);
      await source.fetch();

      const blobs = await source.listManifestBlobs(base);
      expect(blobs.map(({ path, symlink }) => [path, symlink])).toEqual([
        ["manifests/link.yaml", true],
        ["manifests/real.yaml", false],
      ]);
      expect(text(await source.readBlob(blobs[0]!.oid))).toBe("/etc/passwd");
    });

    it("fails with a GitSourceError for a branch that does not exist", async () => {
      await threeCommits();
      const source = await transport.open(repo, { branch: "release" });
      await expect(source.fetch()).rejects.toThrow(GitSourceError);
      await expect(source.fetch()).rejects.toThrow(/branch release not found/);
    });
  });
}
