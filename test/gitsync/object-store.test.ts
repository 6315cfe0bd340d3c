import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MissingObjectError, ObjectStore } from "../../src/gitsync/object-store.ts";
import { createRepo, type TestRepo } from "../helpers/git-fixture.ts";

const execFileAsync = promisify(execFile);

/** Every object in the repository as `git cat-file --batch` reads it: the reference. */
async function everyObject(repo: TestRepo): Promise<Map<string, { type: string; content: Buffer }>> {
  const listing = await repo.git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)");
  const oids = listing.split("\n").filter(Boolean);
  const child = execFileAsync("git", ["cat-file", "--batch"], { cwd: repo.dir, encoding: "buffer", maxBuffer: 1 << 28 });
  child.child.stdin!.end(`${oids.join("\n")}\n`);
  const { stdout } = await child;
  const objects = new Map<string, { type: string; content: Buffer }>();
  let position = 0;
  while (position < stdout.length) {
    const newline = stdout.indexOf(0x0a, position);
    const [oid, type, size] = stdout.toString("latin1", position, newline).split(" ");
    const start = newline + 1;
    objects.set(oid!, { type: type!, content: stdout.subarray(start, start + Number(size)) });
    position = start + Number(size) + 1;
  }
  return objects;
}

/** Versions of one growing file: similar enough that Git stores most of them as deltas. */
async function historyWithDeltas(repo: TestRepo): Promise<void> {
  const lines = Array.from({ length: 400 }, (_, index) => `line ${index}: ${"lorem ipsum ".repeat(4)}`);
  for (let version = 0; version < 12; version++) {
    lines[version * 30] = `changed in version ${version}`;
    lines.push(`appended in version ${version}`);
    await repo.write("config/big.yaml", `${lines.join("\n")}\n`);
    await repo.write(`config/v${version}.yaml`, `version: ${version}\n`);
    await repo.commit(`Version ${version}`);
  }
}

async function expectStoreMatchesGit(repo: TestRepo): Promise<number> {
  const reference = await everyObject(repo);
  const store = new ObjectStore(`${repo.dir}/.git`);
  try {
    for (const [oid, expected] of reference) {
      const actual = store.read(oid);
      expect({ oid, type: actual.type }).toEqual({ oid, type: expected.type });
      expect(actual.content.equals(expected.content), `content of ${oid}`).toBe(true);
    }
  } finally {
    store.close();
  }
  return reference.size;
}

describe("ObjectStore", () => {
  let repo: TestRepo;

  beforeEach(async () => {
    repo = await createRepo();
    await historyWithDeltas(repo);
  });
  afterEach(async () => {
    await repo.cleanup();
  });

  it("reads loose objects exactly as git does", async () => {
    expect(readdirSync(`${repo.dir}/.git/objects/pack`)).toEqual([]);
    expect(await expectStoreMatchesGit(repo)).toBeGreaterThan(30);
  });

  it("reads a packed repository with offset deltas exactly as git does", async () => {
    await repo.git("repack", "-adf", "--depth=50");
    expect(await repo.git("verify-pack", "-s", ...packIndexes(repo))).toMatch(/chain length = [1-9]/);
    await expectStoreMatchesGit(repo);
  });

  it("reads a pack whose deltas name their base by object id", async () => {
    await repo.git("-c", "repack.useDeltaBaseOffset=false", "repack", "-adf");
    expect(await repo.git("verify-pack", "-s", ...packIndexes(repo))).toMatch(/chain length = [1-9]/);
    await expectStoreMatchesGit(repo);
  });

  it("finds objects added in a new pack after it was opened", async () => {
    await repo.git("repack", "-adf");
    const store = new ObjectStore(`${repo.dir}/.git`);
    try {
      await repo.write("later.yaml", "later\n");
      await repo.commit("Later");
      await repo.git("repack", "-ad");
      const oid = await repo.git("rev-parse", "HEAD:later.yaml");
      expect(store.readAs(oid, "blob").toString()).toBe("later\n");
    } finally {
      store.close();
    }
  });

  it("says which object is missing", () => {
    const store = new ObjectStore(`${repo.dir}/.git`);
    try {
      const absent = "0123456789abcdef0123456789abcdef01234567";
      expect(() => store.read(absent)).toThrow(MissingObjectError);
      expect(() => store.read(absent)).toThrow(`object ${absent} not found`);
      expect(store.has(absent)).toBe(false);
    } finally {
      store.close();
    }
  });
});

function packIndexes(repo: TestRepo): string[] {
  const dir = `${repo.dir}/.git/objects/pack`;
  return readdirSync(dir)
    .filter((name) => name.endsWith(".idx"))
    .map((name) => `${dir}/${name}`);
}
