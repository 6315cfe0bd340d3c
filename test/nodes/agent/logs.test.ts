import { spawn, type ChildProcess } from "node:child_process";
import { appendFile, mkdtemp, open, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { followLog, readTail, rotateLog } from "../../../src/nodes/agent/logs.ts";

let dir: string;
let log: string;
const children: ChildProcess[] = [];
const followers: AbortController[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "capstan-logs-"));
  log = join(dir, "app.log");
});

afterEach(async () => {
  for (const follower of followers.splice(0)) follower.abort();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const ended = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await ended;
    }
  }
  await rm(dir, { recursive: true, force: true });
});

function lines(from: number, to: number): string {
  let text = "";
  for (let index = from; index <= to; index += 1) text += `line ${index}\n`;
  return text;
}

async function waitFor(accept: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accept())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("rotateLog", () => {
  it("leaves a file under the limit alone", async () => {
    await writeFile(log, "small\n");
    expect(await rotateLog(log, { maxBytes: 100, maxFiles: 3 })).toBe(false);
    expect(await readdir(dir)).toEqual(["app.log"]);
  });

  it("keeps maxFiles files, the live one included, newest text in the live file", async () => {
    for (let round = 1; round <= 5; round += 1) {
      await writeFile(log, `round ${round}\n`.padEnd(50, "."), { flag: "a" });
      expect(await rotateLog(log, { maxBytes: 40, maxFiles: 3 })).toBe(true);
    }
    expect((await readdir(dir)).sort()).toEqual(["app.log", "app.log.1", "app.log.2"]);
    expect(await readFile(log, "utf8")).toBe("");
    expect(await readFile(`${log}.1`, "utf8")).toMatch(/^round 5\n/);
    expect(await readFile(`${log}.2`, "utf8")).toMatch(/^round 4\n/);
  });

  it("lets a process writing through O_APPEND continue at the start of the truncated file", async () => {
    const file = await open(log, "a");
    // Writes one line per line it reads: the test decides when.
    const child = spawn("/bin/sh", ["-c", "while read -r word; do echo \"$word\"; done"], { stdio: ["pipe", file.fd, "ignore"] });
    children.push(child);
    await file.close();
    const say = async (word: string, expected: string): Promise<void> => {
      child.stdin!.write(`${word}\n`);
      await waitFor(async () => (await readFile(log, "utf8")) === expected, `"${expected}" in the log`);
    };
    await say("before-rotation-".padEnd(40, "x"), `${"before-rotation-".padEnd(40, "x")}\n`);
    expect(await rotateLog(log, { maxBytes: 10, maxFiles: 2 })).toBe(true);
    expect(await readFile(log, "utf8")).toBe("");
    // No hole of NULs where the old text was: the writer's offset follows the file's end.
    await say("after", "after\n");
    expect(await readFile(`${log}.1`, "utf8")).toBe(`${"before-rotation-".padEnd(40, "x")}\n`);
  });
});

describe("readTail", () => {
  it("returns the last lines across rotated files, oldest first", async () => {
    await writeFile(`${log}.2`, lines(1, 3));
    // A rotation can cut a line in two: it continues in the next file.
    await writeFile(`${log}.1`, `${lines(4, 6)}line 7 first half`);
    await writeFile(log, ` second half\n${lines(8, 9)}`);
    expect(await readTail(log, 2, { maxFiles: 3 })).toBe(lines(8, 9));
    expect(await readTail(log, 4, { maxFiles: 3 })).toBe(`line 6\nline 7 first half second half\n${lines(8, 9)}`);
    expect(await readTail(log, 8, { maxFiles: 3 })).toBe(`${lines(2, 6)}line 7 first half second half\n${lines(8, 9)}`);
    expect(await readTail(log, 1000, { maxFiles: 3 })).toBe(`${lines(1, 6)}line 7 first half second half\n${lines(8, 9)}`);
    // maxFiles bounds what is read: .2 is beyond two files.
    expect(await readTail(log, 1000, { maxFiles: 2 })).toBe(`${lines(4, 6)}line 7 first half second half\n${lines(8, 9)}`);
  });

  it("keeps a last line without a newline, and reads nothing for zero lines or no file", async () => {
    await writeFile(log, "one\ntwo\nthree");
    expect(await readTail(log, 2)).toBe("two\nthree");
    expect(await readTail(log, 0)).toBe("");
    expect(await readTail(join(dir, "missing.log"), 10)).toBe("");
  });

  it("reads from the end in chunks: a large file, multi-byte text across chunk edges", async () => {
    const big = lines(1, 200_000); // ~2.3 MB
    await writeFile(log, `${big}ünïcødé ✓ end\n`);
    expect(await readTail(log, 3)).toBe(`line 199999\nline 200000\nünïcødé ✓ end\n`);
    const many = await readTail(log, 10_000);
    expect(many.split("\n")).toHaveLength(10_001);
    expect(many.startsWith("line 190002\n")).toBe(true);
  });

  it("stops at maxBytes when a line never ends", async () => {
    await writeFile(log, "x".repeat(300_000));
    expect((await readTail(log, 1, { maxBytes: 100_000 })).length).toBe(100_000);
  });
});

describe("followLog", () => {
  function follow(options: { fromEnd?: boolean; pollMs?: number } = {}): { text: () => string; done: Promise<void>; controller: AbortController } {
    const controller = new AbortController();
    followers.push(controller);
    let received = "";
    const done = followLog(log, (chunk) => (received += chunk), controller.signal, { pollMs: 20, ...options });
    return { text: () => received, done, controller };
  }

  it("delivers appended text, starting at the end when asked, and resolves on abort", async () => {
    await writeFile(log, "already there\n");
    const fromStart = follow();
    const fromEnd = follow({ fromEnd: true });
    await waitFor(() => fromStart.text() === "already there\n", "the existing text");
    await appendFile(log, "new text\n");
    await waitFor(() => fromEnd.text() === "new text\n", "appended text from the end");
    await waitFor(() => fromStart.text() === "already there\nnew text\n", "appended text from the start");
    fromStart.controller.abort();
    fromEnd.controller.abort();
    await expect(Promise.all([fromStart.done, fromEnd.done])).resolves.toBeDefined();
  });

  it("waits for a file that does not exist yet", async () => {
    const follower = follow();
    await new Promise((resolve) => setTimeout(resolve, 60));
    await writeFile(log, "born\n");
    await waitFor(() => follower.text() === "born\n", "the new file's text");
  });

  it("follows across a copy-truncate rotation without losing the text written just before it", async () => {
    // A slow poll, so the rotation below surely happens between two looks.
    const follower = follow({ pollMs: 400 });
    await writeFile(log, lines(1, 2));
    await waitFor(() => follower.text() === lines(1, 2), "the first lines");
    // Written and rotated away before the follower polls again: it is read back from .1.
    await appendFile(log, lines(3, 4));
    await rotateLog(log, { maxBytes: 1, maxFiles: 3 });
    await appendFile(log, lines(5, 5));
    await waitFor(() => follower.text() === lines(1, 5), "text around the rotation");
    // A second rotation, after the follower caught up.
    await appendFile(log, lines(6, 60));
    await waitFor(() => follower.text() === lines(1, 60), "lines before the second rotation");
    await rotateLog(log, { maxBytes: 1, maxFiles: 3 });
    await appendFile(log, lines(61, 62));
    await waitFor(() => follower.text() === lines(1, 62), "text after the second rotation");
  });

  it("notices a truncation by the size going down", async () => {
    const follower = follow();
    await writeFile(log, "a long first line of text\n");
    await waitFor(() => follower.text() === "a long first line of text\n", "the first line");
    await truncate(log, 0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await appendFile(log, "short\n");
    await waitFor(() => follower.text() === "a long first line of text\nshort\n", "text after the truncation");
  });

  it("delivers a multi-byte character split across two writes whole", async () => {
    const follower = follow();
    const check = Buffer.from("✓", "utf8");
    await writeFile(log, Buffer.concat([Buffer.from("ok "), check.subarray(0, 1)]));
    await waitFor(() => follower.text() === "ok ", "the text before the split character");
    await new Promise((resolve) => setTimeout(resolve, 60));
    await appendFile(log, Buffer.concat([check.subarray(1), Buffer.from("\n")]));
    await waitFor(() => follower.text() === "ok ✓\n", "the whole character");
    expect(follower.text()).not.toContain("\ufffd");
  });
});
