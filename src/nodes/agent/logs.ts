import { copyFile, open, rename, rm, stat, truncate, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { StringDecoder } from "node:string_decoder";

/**
 * Container log files. A container's stdout and stderr are appended to one
 * file through an O_APPEND descriptor the container holds for its whole life,
 * so rotation is copy-truncate (the kubelet's scheme for the same reason):
 * `<path>.1` … `<path>.<maxFiles-1>` hold older text, `<path>` the newest, and
 * the writer simply continues at offset 0 of the truncated file.
 */

/** The kubelet's defaults (containerLogMaxSize, containerLogMaxFiles). */
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILES = 5;

export interface RotationOptions {
  /** Rotate once the live file reaches this size. */
  maxBytes?: number;
  /** Files kept, the live one included (so `maxFiles - 1` rotated copies); at least 1. */
  maxFiles?: number;
}

/**
 * Rotates `path` when it has reached `maxBytes`: drops the oldest copy,
 * shifts `.K` to `.K+1`, copies the live file to `.1` and truncates it to 0.
 * Text appended between the copy and the truncation is lost (inherent to
 * copy-truncate; the window is one copy of at most `maxBytes`). Returns
 * whether it rotated.
 */
export async function rotateLog(path: string, options: RotationOptions = {}): Promise<boolean> {
  const maxBytes = options.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
  const maxFiles = Math.max(1, options.maxFiles ?? DEFAULT_LOG_MAX_FILES);
  const size = await fileSize(path);
  if (size === undefined || size < maxBytes) return false;
  const keep = maxFiles - 1;
  if (keep > 0) {
    await rm(`${path}.${keep}`, { force: true });
    for (let index = keep - 1; index >= 1; index -= 1) {
      await rename(`${path}.${index}`, `${path}.${index + 1}`).catch(ignoreMissing);
    }
    await copyFile(path, `${path}.1`);
  }
  await truncate(path, 0);
  return true;
}

export interface TailOptions {
  /** As given to rotateLog: the rotated copies `.1` … `.maxFiles-1` are read too. */
  maxFiles?: number;
  /** Reads at most this many bytes back from the end, so one endless line cannot exhaust memory. */
  maxBytes?: number;
}

const TAIL_CHUNK_BYTES = 64 * 1024;
const DEFAULT_TAIL_MAX_BYTES = 8 * 1024 * 1024;

/**
 * The last `lines` lines of a log, across its rotated copies (oldest first),
 * read backwards from the end in chunks. "" when there is no log yet.
 */
export async function readTail(path: string, lines: number, options: TailOptions = {}): Promise<string> {
  if (lines <= 0) return "";
  const maxFiles = Math.max(1, options.maxFiles ?? DEFAULT_LOG_MAX_FILES);
  const maxBytes = options.maxBytes ?? DEFAULT_TAIL_MAX_BYTES;
  // Newest first: the live file, then .1, .2, …
  const files = [path];
  for (let index = 1; index < maxFiles; index += 1) files.push(`${path}.${index}`);

  const chunks: Buffer[] = []; // newest first
  let newlines = 0;
  let collected = 0;
  // `lines` lines need the newline before the first of them; a trailing newline counts once more.
  const enough = (): boolean => newlines > lines || collected >= maxBytes;
  for (const file of files) {
    if (enough()) break;
    let handle: FileHandle;
    try {
      handle = await open(file, "r");
    } catch (error) {
      if (isMissing(error)) continue;
      throw error;
    }
    try {
      let end = (await handle.stat()).size;
      while (end > 0 && !enough()) {
        const length = Math.min(TAIL_CHUNK_BYTES, end, maxBytes - collected);
        const chunk = Buffer.alloc(length);
        const { bytesRead } = await handle.read(chunk, 0, length, end - length);
        const read = chunk.subarray(0, bytesRead);
        chunks.push(read);
        collected += read.length;
        newlines += countNewlines(read);
        end -= length;
      }
    } finally {
      await handle.close();
    }
  }
  const text = Buffer.concat(chunks.reverse());
  return text.subarray(startOfLastLines(text, lines)).toString("utf8");
}

/** Byte offset where the last `lines` lines of `text` begin. */
function startOfLastLines(text: Buffer, lines: number): number {
  const newline = 0x0a;
  let position = text.length - 1;
  if (text[position] === newline) position -= 1; // the last line's own terminator
  let found = 0;
  for (; position >= 0; position -= 1) {
    if (text[position] === newline) {
      found += 1;
      if (found === lines) return position + 1;
    }
  }
  return 0;
}

function countNewlines(buffer: Buffer): number {
  let count = 0;
  let index = buffer.indexOf(0x0a);
  while (index >= 0) {
    count += 1;
    index = buffer.indexOf(0x0a, index + 1);
  }
  return count;
}

export interface FollowOptions {
  /** How often the file is looked at. */
  pollMs?: number;
  /** Start at the current end (after a tail was sent) rather than at the beginning. */
  fromEnd?: boolean;
}

const FOLLOW_CHUNK_BYTES = 256 * 1024;

/**
 * Delivers text appended to `path` as it arrives, until `signal` aborts (then
 * resolves). Survives the file not existing yet and copy-truncate rotation:
 * when `.1` changes, the rest of the old text is read from it before starting
 * over at offset 0 of the live file; a live file that shrank without a
 * rotation (truncated by hand) is also read again from 0. Multi-byte UTF-8
 * characters split across reads arrive whole.
 */
export async function followLog(path: string, onText: (text: string) => void, signal: AbortSignal, options: FollowOptions = {}): Promise<void> {
  const pollMs = options.pollMs ?? 250;
  let decoder = new StringDecoder("utf8");
  let position = options.fromEnd ? ((await fileSize(path)) ?? 0) : 0;
  let rotatedIdentity = identity(await statOrUndefined(`${path}.1`));

  const deliver = (buffer: Buffer): void => {
    const text = decoder.write(buffer);
    if (text !== "" && !signal.aborted) onText(text);
  };

  while (!signal.aborted) {
    // The live file first: a rotation completing after this stat shows up in .1 below, never as a lost shrink.
    const size = await fileSize(path);
    const rotated = await statOrUndefined(`${path}.1`);
    const rotatedNow = identity(rotated);
    if (rotated && rotatedNow !== rotatedIdentity) {
      // A rotation: what we had not read yet was copied to .1. The live file is read on the next
      // round, as `size` may predate the truncation.
      rotatedIdentity = rotatedNow;
      if (rotated.size > position) await readRange(`${path}.1`, position, rotated.size, deliver);
      decoder = new StringDecoder("utf8");
      position = 0;
      continue;
    }
    rotatedIdentity = rotatedNow;
    if (size !== undefined) {
      if (size < position) {
        decoder = new StringDecoder("utf8");
        position = 0;
      }
      if (size > position) position = await readRange(path, position, size, deliver);
    }
    await sleep(pollMs, signal);
  }
}

/** Reads [from, to) of a file in chunks; returns where it stopped (short if the file shrank meanwhile). */
async function readRange(path: string, from: number, to: number, deliver: (buffer: Buffer) => void): Promise<number> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if (isMissing(error)) return from;
    throw error;
  }
  let position = from;
  try {
    while (position < to) {
      const buffer = Buffer.alloc(Math.min(FOLLOW_CHUNK_BYTES, to - position));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      deliver(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return position;
}

/** Changes whenever rotation writes a new `.1` (a fresh copy, or a rename onto the name). */
function identity(stats: Stats | undefined): string | undefined {
  return stats ? `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}` : undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  return (await statOrUndefined(path))?.size;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

function ignoreMissing(error: unknown): void {
  if (!isMissing(error)) throw error;
}
