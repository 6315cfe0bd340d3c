import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logging.ts";
import { writeFileAtomically } from "../../../src/nodes/agent/atomic-file.ts";

/**
 * The agent's state file on a disk that refuses writes: the last whole file
 * stays, no temporary file is left behind, and the write is tried again on
 * its own until the disk takes it.
 */

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("writeFileAtomically", () => {
  it("removes its temporary file when the rename fails, and leaves what was there", async () => {
    dir = await mkdtemp(join(tmpdir(), "capstan-atomic-"));
    // A non-empty directory where the file should go: every step but the rename succeeds.
    const path = join(dir, "state.json");
    await mkdir(path);
    await writeFile(join(path, "inside"), "kept");
    await expect(writeFileAtomically(path, "{}", 0o600, { sync: true })).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(["state.json"]);
    expect(await readFile(join(path, "inside"), "utf8")).toBe("kept");
  });
});
