import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadDirectory } from "../../src/desired/load-directory.ts";
import { isManifestPath, parseIgnoreFile } from "../../src/desired/manifest-paths.ts";
import { isApplicable, validateFiles } from "../../src/desired/validate.ts";
import { ManifestError, NotFoundError } from "../../src/errors.ts";

const fixtureRepo = join(import.meta.dirname, "fixtures/repo");
const examplesRepo = join(import.meta.dirname, "../../examples-repo");

describe("choosing manifest files", () => {
  it("takes *.yaml, *.yml and *.json files only", () => {
    expect(["a.yaml", "dir/b.yml", "c.json", "README.md", "d.yaml.bak", "e.YAML"].filter((path) => isManifestPath(path))).toEqual([
      "a.yaml",
      "dir/b.yml",
      "c.json",
    ]);
  });

  it("skips anything under a dot-directory, and dot-files, which are tooling rather than manifests", () => {
    expect([".github/workflows/ci.yml", "web/.hidden/x.yaml", ".gitlab-ci.yml", "web/app.yaml"].filter((path) => isManifestPath(path))).toEqual([
      "web/app.yaml",
    ]);
  });

  it("reads .capstanignore as Git reads .gitignore: globs, directories, comments and negation", () => {
    const ignore = parseIgnoreFile(["# not applied", "drafts/", "*.draft.yaml", "!ready.draft.yaml", "/local.yaml", "vendor/", "!vendor/ours.yaml"].join("\n"));
    const paths = [
      "drafts/a.yaml",
      "web/drafts/b.yaml",
      "web/wip.draft.yaml",
      "web/ready.draft.yaml",
      "local.yaml",
      "web/local.yaml",
      "vendor/ours.yaml", // Git cannot re-include a file whose directory is excluded
      "web/app.yaml",
    ];
    expect(paths.filter((path) => isManifestPath(path, ignore))).toEqual(["web/ready.draft.yaml", "web/local.yaml", "web/app.yaml"]);
  });
});

describe("loading a directory of manifests", () => {
  it("returns the manifest files by repo-relative POSIX path, in path order, honouring dot-dirs and .capstanignore", async () => {
    const files = await loadDirectory(fixtureRepo);
    expect(files.map((file) => file.path)).toEqual(["namespace.yaml", "web/config.json", "web/deployment.yml", "web/ready.draft.yaml"]);
    expect(new TextDecoder().decode(files[0]!.content as Uint8Array)).toBe("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
  });

  it("yields files that validate as one commit", async () => {
    const { objects, problems } = validateFiles(await loadDirectory(fixtureRepo));
    expect(problems).toEqual([]);
    expect(objects.map((object) => `${object.kind} ${object.namespace}/${object.name} ${object.source.file}:${object.source.line}`)).toEqual([
      "Namespace /shop namespace.yaml:1",
      "ConfigMap shop/web-config web/config.json:1",
      "Deployment shop/web web/deployment.yml:1",
      "Service shop/web web/ready.draft.yaml:1",
    ]);
  });

  it("finds the examples repository valid", async () => {
    const { objects, problems } = validateFiles(await loadDirectory(examplesRepo));
    expect(problems.filter((problem) => problem.severity === "error")).toEqual([]);
    expect(isApplicable(problems)).toBe(true);
    expect(objects.length).toBeGreaterThan(5);
  });

  it("refuses a directory that does not exist", async () => {
    await expect(loadDirectory(join(fixtureRepo, "missing"))).rejects.toThrow(NotFoundError);
  });
});

describe("symlinks in a directory of manifests", () => {
  let scratch: string;
  let repo: string;

  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), "capstan-load-directory-"));
    repo = join(scratch, "repo");
    await mkdir(join(repo, "shared"), { recursive: true });
    await writeFile(join(scratch, "outside.yaml"), "kind: Secret\n");
    await mkdir(join(scratch, "outside-dir"));
    await writeFile(join(repo, "shared", "ns.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
  });

  afterEach(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  async function refusals(): Promise<unknown> {
    const error = await loadDirectory(repo).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ManifestError);
    return (error as ManifestError).problems;
  }

  it("refuses every symlink that leads out of the directory, naming the link", async () => {
    await symlink(join(scratch, "outside.yaml"), join(repo, "leak.yaml"));
    await symlink("../../outside-dir", join(repo, "shared", "more"));
    expect(await refusals()).toEqual([
      {
        file: "leak.yaml",
        line: 1,
        column: 1,
        path: "",
        message: `symlink points outside the directory (to ${join(scratch, "outside.yaml")}): refused`,
        severity: "error",
      },
      expect.objectContaining({ file: "shared/more", message: expect.stringMatching(/^symlink points outside the directory/) }),
    ]);
  });

  it("refuses a manifest symlink whose target does not exist", async () => {
    await symlink("nowhere.yaml", join(repo, "dangling.yaml"));
    expect(await refusals()).toEqual([expect.objectContaining({ file: "dangling.yaml", message: "symlink points to a file that does not exist" })]);
  });

  it("reads a symlink to a file inside under the link's own path, and does not descend into a linked directory", async () => {
    await symlink("shared/ns.yaml", join(repo, "namespace.yaml"));
    await symlink("shared", join(repo, "shared-again"));
    const files = await loadDirectory(repo);
    expect(files.map((file) => file.path)).toEqual(["namespace.yaml", "shared/ns.yaml"]);
    expect(files[0]!.content).toEqual(files[1]!.content);
  });

  it("ignores symlinks that are not manifests or are excluded", async () => {
    await writeFile(join(repo, ".capstanignore"), "private/\n");
    await symlink(join(scratch, "outside.yaml"), join(repo, "notes.txt"));
    await symlink(join(scratch, "outside-dir"), join(repo, "private"));
    await symlink(join(scratch, "outside.yaml"), join(repo, ".secret.yaml"));
    expect((await loadDirectory(repo)).map((file) => file.path)).toEqual(["shared/ns.yaml"]);
  });
});
