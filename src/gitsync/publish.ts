/**
 * Moves the watched branch to a commit capstan wrote (a rollback), only if the
 * branch still points where capstan built on: a compare-and-swap, never a
 * force-push. A local repository's ref is swapped under Git's own lock-file
 * protocol; an HTTP(S) remote gets an isomorphic-git push, which the server
 * accepts only as a fast-forward of the tip it holds.
 */
import * as fs from "node:fs";
import { existsSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { BranchMovedError } from "../errors.ts";
import { authCallbacks, type GitAuth } from "./credentials.ts";

/**
 * Swaps `refs/heads/<branch>` from `expected` to `sha` in a local repository.
 * `<ref>.lock` is created exclusively, as git does, so a `git commit` or
 * `git push` into the repository at the same moment cannot interleave.
 */
export async function publishLocal(gitdir: string, branch: string, sha: string, expected: string): Promise<void> {
  const ref = `refs/heads/${branch}`;
  const refPath = join(gitdir, ref);
  const lockPath = `${refPath}.lock`;
  fs.mkdirSync(dirname(refPath), { recursive: true });
  let lock;
  try {
    lock = await open(lockPath, "wx");
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") throw new BranchMovedError(branch, expected, null, "the branch is being updated by someone else right now");
    throw error;
  }
  try {
    const current = await git.resolveRef({ fs, gitdir, ref });
    if (current !== expected) throw new BranchMovedError(branch, expected, current);
    await lock.writeFile(`${sha}\n`);
    await lock.sync();
    await lock.close();
    lock = undefined;
    await rename(lockPath, refPath);
  } finally {
    await lock?.close();
    await rm(lockPath, { force: true });
  }
  await refreshWorkTree(gitdir, branch);
}

/**
 * A work tree whose checked-out branch capstan moved would show the rollback
 * reversed as uncommitted changes; bring its files and index along, as
 * `receive.denyCurrentBranch=updateInstead` does for a push. Files the user
 * modified are not overwritten: isomorphic-git refuses with a conflict, and
 * the branch stays moved (Git is right; the checkout is merely stale).
 */
async function refreshWorkTree(gitdir: string, branch: string): Promise<void> {
  if (!gitdir.endsWith("/.git")) return;
  const dir = dirname(gitdir);
  const head = await git.currentBranch({ fs, gitdir, fullname: true }).catch(() => undefined);
  if (head !== `refs/heads/${branch}`) return;
  await git.checkout({ fs, dir, gitdir, ref: branch, noUpdateHead: true }).catch(() => undefined);
}

export interface PushOptions {
  url: string;
  branch: string;
  gitdir: string;
  auth: GitAuth | undefined;
}

/** Pushes `sha` to the remote branch if the remote still holds `expected`. */
export async function publishToRemote(options: PushOptions, sha: string, expected: string): Promise<void> {
  const { url, branch, gitdir, auth } = options;
  const ref = `refs/heads/${branch}`;
  const refs = await git.listServerRefs({ http, url, prefix: ref, ...authCallbacks(auth) });
  const current = refs.find((candidate) => candidate.ref === ref)?.oid ?? null;
  if (current !== expected) throw new BranchMovedError(branch, expected, current);
  // push() takes a ref, not a sha: a private one names the commit to send.
  const outgoing = "refs/capstan/outgoing";
  await git.writeRef({ fs, gitdir, ref: outgoing, value: sha, force: true });
  try {
    const result = await git.push({ fs, http, gitdir, url, ref: outgoing, remoteRef: ref, force: false, ...authCallbacks(auth) });
    if (!result.ok) throw new Error(result.error ?? "push refused");
  } catch (error) {
    const code = (error as { code?: string }).code;
    // Moved between the listing and the push: the server's tip is no ancestor of ours.
    if (code === "PushRejectedError" || code === "NotFoundError") throw new BranchMovedError(branch, expected, null);
    throw error;
  }
  if (existsSync(gitdir)) await git.writeRef({ fs, gitdir, ref, value: sha, force: true });
}
