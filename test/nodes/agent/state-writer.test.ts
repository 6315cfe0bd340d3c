import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logging.ts";
import { writeFileAtomically } from "../../../src/nodes/agent/atomic-file.ts";
import { emptyState } from "../../../src/nodes/agent/state.ts";
import { StateWriter } from "../../../src/nodes/agent/state-writer.ts";
import { eventually } from "../../helpers/eventually.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";

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

describe("StateWriter", () => {
  it("tries a failed write again every retryMs until it succeeds, then clears the error", async () => {
    dir = await mkdtemp(join(tmpdir(), "capstan-state-writer-"));
    // The state dir is a file: every write fails (ENOTDIR / EEXIST) until it is a directory.
    const stateDir = join(dir, "agent");
    await writeFile(stateDir, "not a directory");
    const clock = new ManualClock();
    const state = emptyState();
    const writer = new StateWriter({ stateDir, log: silentLogger, state: () => state, clock, retryMs: 5_000 });
    try {
      await expect(writer.saveNow()).rejects.toThrow(/could not write the agent state/);
      expect(writer.lastError).toBeDefined();

      await rm(stateDir);
      // Nothing else asks for a write: the retry alone must save the state.
      await eventually(async () => {
        await clock.advance(5_000);
        expect(writer.lastError).toBeUndefined();
      });
      expect(JSON.parse(await readFile(join(stateDir, "state.json"), "utf8"))).toMatchObject({ agentId: state.agentId });
    } finally {
      writer.close();
    }
  });
});
