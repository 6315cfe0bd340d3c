import { lstat, mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { unmountUnder } from "./tmpfs.ts";

/**
 * The directory under which each pod's secret and Memory volumes go: the
 * configured one, else a dir of this agent on /dev/shm (tmpfs, so secrets
 * never reach a disk), else `<stateDir>/secrets`. Made on first use.
 */
export class SecretRoot {
  readonly #configured: string | undefined;
  readonly #stateDir: string;
  readonly #agentId: string;
  #path: string | undefined;

  constructor(options: { configured: string | undefined; stateDir: string; agentId: string }) {
    this.#configured = options.configured;
    this.#stateDir = options.stateDir;
    this.#agentId = options.agentId;
  }

  async path(): Promise<string> {
    if (this.#path) return this.#path;
    let root = this.#configured;
    if (!root) {
      const shm = await stat("/dev/shm").catch(() => undefined);
      root = shm?.isDirectory() ? join("/dev/shm", `capstan-${this.#agentId}`) : join(this.#stateDir, "secrets");
    }
    await mkdir(root, { recursive: true, mode: 0o700 });
    // Secrets go here: refuse a path someone else prepared (a symlink, another owner, a loose mode).
    const found = await lstat(root);
    if (!found.isDirectory() || found.uid !== process.geteuid?.() || (found.mode & 0o077) !== 0) {
      throw new Error(`${root} is not a private directory of this user (a symlink, another owner, or mode wider than 0700): refusing to put secrets there`);
    }
    this.#path = root;
    return root;
  }

  /** Removes it if it was made; never called on a normal stop. */
  async remove(): Promise<void> {
    if (!this.#path) return;
    // Memory emptyDirs of pods still running are tmpfs mounts inside it.
    await unmountUnder(this.#path);
    await rm(this.#path, { recursive: true, force: true });
  }
}
