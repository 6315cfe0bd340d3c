import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
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

describe("GitSource over HTTP with basic auth, refused", () => {
  const password = "s3cret-pa55word";
  let root: Awaited<ReturnType<typeof tempDir>>;
  let cache: Awaited<ReturnType<typeof tempDir>>;
  let server: GitHttpServer;
  let repo: TestRepo;

  beforeAll(async () => {
    root = await tempDir("capstan-served-");
    cache = await tempDir("capstan-cache-");
    server = await startGitHttpServer({ root: root.path, auth: { username: "deployer", password } });
    repo = await createRepo(join(root.path, "app"));
    await repo.write("web.yaml", "web\n");
    await repo.commit("Add web");
  });
  afterAll(async () => {
    await server.close();
    await root.cleanup();
    await cache.cleanup();
  });

  it("a wrong password is a GitSourceError that does not contain the password", async () => {
    const wrong = "wr0ng-pa55word";
    const source = openGitSource({
      url: server.urlFor(repo.dir),
      branch: "main",
      cacheDir: cache.path,
      auth: { username: "deployer", password: wrong },
    });
    const error = await source.fetch().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(GitSourceError);
    const everything = `${(error as Error).message} ${String((error as Error).cause)} ${JSON.stringify(error)}`;
    expect(everything).toMatch(/authentication failed/);
    expect(everything).not.toContain(wrong);
  });

  it("no credentials is a GitSourceError saying so", async () => {
    const source = openGitSource({ url: server.urlFor(repo.dir), branch: "main", cacheDir: cache.path });
    await expect(source.fetch()).rejects.toThrow(/authentication required/);
  });

  it("credentials in the URL are used, and kept out of the recorded URL and of errors", async () => {
    const withUserinfo = server.urlFor(repo.dir).replace("http://", `http://deployer:${password}@`);
    const source = openGitSource({ url: withUserinfo, branch: "main", cacheDir: cache.path });
    expect(source.url).toBe(server.urlFor(repo.dir));
    expect(await source.fetch()).toBe(await repo.revParse());

    const wrongInUrl = server.urlFor(repo.dir).replace("http://", "http://deployer:leaked-secret@");
    const refused = openGitSource({ url: wrongInUrl, branch: "main", cacheDir: cache.path });
    const error = (await refused.fetch().catch((failure: unknown) => failure)) as GitSourceError;
    expect(error).toBeInstanceOf(GitSourceError);
    expect(error.source).not.toContain("leaked-secret");
    expect(error.message).not.toContain("leaked-secret");
  });

  it("the test remote accepts an authenticated push into the served work tree", async () => {
    const clone = await tempDir("capstan-clone-");
    try {
      const url = server.urlFor(repo.dir).replace("http://", `http://deployer:${password}@`);
      const pusher = await createRepo(clone.path);
      await pusher.git("pull", "--quiet", url, "main");
      await pusher.write("rollback.yaml", "rolled back\n");
      const pushed = await pusher.commit("Roll back");
      await pusher.push(url);
      expect(await repo.revParse()).toBe(pushed);
    } finally {
      await clone.cleanup();
    }
  });

  it("a token alone is sent as the username, the way GitHub and Gitea take it", async () => {
    const tokenServer = await startGitHttpServer({
      root: root.path,
      auth: { username: "ghp_token123", password: "x-oauth-basic" },
    });
    try {
      const source = openGitSource({
        url: tokenServer.urlFor(repo.dir),
        branch: "main",
        cacheDir: cache.path,
        auth: { token: "ghp_token123" },
      });
      expect(await source.fetch()).toBe(await repo.revParse());
    } finally {
      await tokenServer.close();
    }
  });
});

describe("GitSource over an HTTP server that misbehaves", () => {
  let root: Awaited<ReturnType<typeof tempDir>>;
  let cache: Awaited<ReturnType<typeof tempDir>>;
  let server: GitHttpServer;
  let repo: TestRepo;

  beforeAll(async () => {
    root = await tempDir("capstan-served-");
    cache = await tempDir("capstan-cache-");
    server = await startGitHttpServer({ root: root.path });
    repo = await createRepo(join(root.path, "app"));
    await repo.write("web.yaml", "web\n");
    await repo.commit("Add web");
  });
  afterEach(() => server.setFault(null));
  afterAll(async () => {
    await server.close();
    await root.cleanup();
    await cache.cleanup();
  });

  it("a 500 is a transient GitSourceError, and the next fetch after recovery succeeds", async () => {
    const source = openGitSource({ url: server.urlFor(repo.dir), branch: "main", cacheDir: cache.path });
    server.setFault("fail");
    const error = (await source.fetch().catch((failure: unknown) => failure)) as GitSourceError;
    expect(error).toBeInstanceOf(GitSourceError);
    expect(error.transient).toBe(true);
    expect(error.message).toMatch(/HTTP 500/);

    server.setFault(null);
    expect(await source.fetch()).toBe(await repo.revParse());
  });

  it("a server that never answers fails the fetch at its deadline", async () => {
    const source = openGitSource({ url: server.urlFor(repo.dir), branch: "main", cacheDir: cache.path, timeoutMs: 300 });
    server.setFault("hang");
    const started = Date.now();
    await expect(source.fetch()).rejects.toThrow(/no answer within 300 ms/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe("GitSource over a local path", () => {
  it("fails with a GitSourceError naming the path when it is not a repository", async () => {
    const dir = await tempDir("capstan-not-a-repo-");
    try {
      const source = openGitSource({ url: dir.path, branch: "main", cacheDir: dir.path });
      await expect(source.fetch()).rejects.toThrow(`git source ${dir.path}: not a Git repository`);
    } finally {
      await dir.cleanup();
    }
  });

  it("keeps reading correctly after the repository is repacked under it", async () => {
    const repo = await createRepo();
    const cache = await tempDir("capstan-cache-");
    try {
      await repo.write("a/one.yaml", "one\n");
      const first = await repo.commit("One");
      const source = openGitSource({ url: repo.dir, branch: "main", cacheDir: cache.path });
      expect(await source.fetch()).toBe(first);
      expect((await source.listManifestBlobs(first)).map((blob) => blob.path)).toEqual(["a/one.yaml"]);

      await repo.write("a/two.yaml", "two\n");
      const second = await repo.commit("Two");
      await repo.pack();
      expect(await source.fetch()).toBe(second);
      const blobs = await source.listManifestBlobs(second);
      expect(await Promise.all(blobs.map(async (blob) => text(await source.readBlob(blob.oid))))).toEqual([
        "one\n",
        "two\n",
      ]);
    } finally {
      await repo.cleanup();
      await cache.cleanup();
    }
  });
});
