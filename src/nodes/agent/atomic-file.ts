import { randomBytes } from "node:crypto";
import { lstat, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Replaces a file so that a crash leaves the old content or the new, never a
 * mix: a temporary file beside it (created exclusively, with `mode`), then a
 * rename. A file that already holds exactly `data` with `mode` is left alone.
 * `sync` flushes the new content to disk before the rename (the agent's state).
 */
export async function writeFileAtomically(path: string, data: Buffer | string, mode: number, options: { sync?: boolean } = {}): Promise<void> {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  const current = await lstat(path).catch(() => undefined);
  if (current?.isFile() && (current.mode & 0o777) === mode && current.size === bytes.length && (await readFile(path)).equals(bytes)) {
    return;
  }
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx", mode);
  // Whatever fails (a full disk at write, sync, close or rename), the temporary file goes: a disk that is
  // full must not also fill up with half-written copies, and the file at `path` stays the last whole one.
  try {
    try {
      await handle.writeFile(bytes);
      await handle.chmod(mode); // open's mode is filtered by the umask
      if (options.sync) await handle.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}
