import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GitSourceError } from "../../src/errors.ts";
import { openGitSource } from "../../src/gitsync/source.ts";
import { createRepo, tempDir, type TestRepo } from "../helpers/git-fixture.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/git-http-server.ts";

const text = (bytes: Uint8Array | null) => (bytes === null ? null : new TextDecoder().decode(bytes));

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

  it("a corrupt pack is a GitSourceError that says so, not isomorphic-git's report-a-bug text, and a clean fetch afterwards succeeds", async () => {
    // Big enough (incompressible) that the bytes the fault flips fall inside the pack.
    const big = await createRepo(join(root.path, "big"));
    await big.write("blob.yaml", `data: ${randomBytes(8_192).toString("base64")}\n`);
    await big.commit("Add a big blob");
    const source = openGitSource({ url: server.urlFor(big.dir), branch: "main", cacheDir: cache.path });
    server.setFault("corrupt");
    const error = (await source.fetch().catch((failure: unknown) => failure)) as GitSourceError;
    expect(error).toBeInstanceOf(GitSourceError);
    expect(error.message).toMatch(/the remote's answer could not be read \(a corrupt or truncated pack\)/);
    expect(error.message).not.toMatch(/isomorphic-git/);

    server.setFault(null);
    expect(await source.fetch()).toBe(await big.revParse());
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
