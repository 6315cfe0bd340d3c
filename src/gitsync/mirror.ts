/**
 * Keeps a bare mirror of one branch of an HTTP(S) remote, with isomorphic-git's
 * smart-HTTP client. Full history (no shallow clone): commitsBetween needs the
 * first-parent chain and rollbacks need old trees.
 */
import * as fs from "node:fs";
import { existsSync } from "node:fs";
import * as git from "isomorphic-git";
import type { HttpClient } from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { authCallbacks, type GitAuth } from "./credentials.ts";
import type { ObjectStore } from "./object-store.ts";

export interface MirrorOptions {
  /** Without credentials. */
  url: string;
  branch: string;
  gitdir: string;
  auth: GitAuth | undefined;
  timeoutMs: number;
}

/** Thrown for conditions worth a plain sentence rather than a library error. */
export class MirrorError extends Error {
  override name = "MirrorError";
}

export async function ensureMirror(options: MirrorOptions): Promise<void> {
  if (existsSync(`${options.gitdir}/HEAD`)) return;
  await git.init({ fs, gitdir: options.gitdir, bare: true, defaultBranch: options.branch });
  // isomorphic-git's fetch needs the remote's refspec; the URL is passed to every call anyway.
  await git.addRemote({ fs, gitdir: options.gitdir, remote: "origin", url: options.url, force: true });
}

/**
 * Brings the branch tip into the mirror and returns it. The server's tip is the
 * truth: after a force-push it may be older than what we had, and then nothing
 * needs downloading. The tip is recorded as refs/heads/<branch> so that the
 * next fetch tells the server what we already have and gets only new objects.
 */
export async function fetchIntoMirror(options: MirrorOptions, store: () => ObjectStore): Promise<string> {
  return withDeadline(options.timeoutMs, async (signal) => {
    const client = abortableHttp(signal);
    const { url, branch, gitdir } = options;
    const ref = `refs/heads/${branch}`;
    await ensureMirror(options);
    const refs = await git.listServerRefs({ http: client, url, prefix: ref, ...authCallbacks(options.auth) });
    const advertised = refs.find((candidate) => candidate.ref === ref);
    if (!advertised) throw new MirrorError(`branch ${branch} not found on the remote`);
    let tip = advertised.oid;
    if (!store().has(tip)) {
      const result = await git.fetch({
        fs,
        http: client,
        gitdir,
        url,
        ref: branch,
        remoteRef: ref,
        singleBranch: true,
        tags: false,
        ...authCallbacks(options.auth),
      });
      // The branch may have moved again between the listing and the fetch.
      tip = result.fetchHead ?? tip;
      store().rescanPacks();
    }
    await git.writeRef({ fs, gitdir, ref, value: tip, force: true });
    return tip;
  });
}

/**
 * isomorphic-git's fetch takes no AbortSignal, so one is threaded into every
 * HTTP request it makes; the race covers a body that stalls after the headers.
 */
function abortableHttp(signal: AbortSignal): HttpClient {
  return { request: (request) => http.request({ ...request, signal }) };
}

async function withDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new MirrorError(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const running = work(controller.signal);
  // Once the deadline has won, the abandoned attempt's own failure is of no interest.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
