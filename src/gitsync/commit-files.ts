import { posix } from "node:path";
import type { ManifestProblem } from "../errors.ts";
import {
  ignoreFileName,
  isManifestPath,
  parseIgnoreFile,
  validateFile,
  validateObjectSet,
  type SourceFile,
  type ValidationPool,
  type ValidationResult,
} from "../desired/index.ts";

/**
 * How a commit's tree becomes a set of validated objects, with the same
 * rules `capstan validate <dir>` applies to a checkout (load-directory.ts):
 * manifest paths only, `.capstanignore` at the root, a symlink to a file in
 * the tree read under the link's own path, a symlink leading out refused.
 */

/** One tree entry under the sources sub-path. */
export interface TreeFile {
  oid: string;
  symlink: boolean;
}

/** The per-file result, a pure function of the path and the content's blob id: cached across syncs. */
export type FileResult = ValidationResult;

/** What validateTree keeps between syncs; one per watched source. */
export interface TreeCache {
  /** Results by path, valid while the path's content id is `oid`. */
  results: Map<string, { oid: string; result: FileResult }>;
  /** Which paths are manifests, valid while `.capstanignore` is the blob `ignoreOid`. */
  selection?: { ignoreOid: string | null; isManifest: (path: string) => boolean; decided: Map<string, boolean> };
}

const maxSymlinkHops = 8;
/** Fewer files than this are parsed on the calling thread: handing them to workers costs more than it saves. */
const parallelThreshold = 200;
/** Files per hand-off: small enough to keep every worker busy, large enough to amortise the hand-off. */
const batchSize = 100;

/**
 * The manifest files of a tree, validated; `cache` keeps results by path and
 * content id so an unchanged file is not parsed again. Only blobs that are
 * needed and not cached are read.
 */
export async function validateTree(
  files: ReadonlyMap<string, TreeFile>,
  readBlob: (oid: string) => Promise<Uint8Array>,
  cache: TreeCache,
  pool?: ValidationPool,
): Promise<ValidationResult> {
  const ignoreOid = files.get(ignoreFileName)?.oid ?? null;
  if (cache.selection?.ignoreOid !== ignoreOid) {
    const ignoreMatcher = parseIgnoreFile(ignoreOid ? decode(await readBlob(ignoreOid)) : "");
    cache.selection = { ignoreOid, isManifest: (path) => isManifestPath(path, ignoreMatcher), decided: new Map() };
  }
  const { isManifest, decided } = cache.selection;
  const paths: string[] = [];
  for (const path of files.keys()) {
    let manifest = decided.get(path);
    if (manifest === undefined) decided.set(path, (manifest = isManifest(path)));
    if (manifest) paths.push(path);
  }
  paths.sort();

  // Cached results stay; the rest are read and parsed.
  const results: FileResult[] = new Array<FileResult>(paths.length);
  const toParse: Array<{ index: number; oid: string; path: string }> = [];
  for (const [index, path] of paths.entries()) {
    const resolved = await resolveFile(path, files, readBlob);
    if ("refusal" in resolved) {
      results[index] = { objects: [], problems: [resolved.refusal] };
      continue;
    }
    const cached = cache.results.get(path);
    if (cached?.oid === resolved.oid) results[index] = cached.result;
    else toParse.push({ index, oid: resolved.oid, path });
  }
  // Many files (a full sync) go to worker threads in batches, the next batch
  // read while the previous ones are parsed; a few are parsed right here.
  const validateBatch =
    pool && toParse.length >= parallelThreshold
      ? (batch: SourceFile[]) => pool.validateFiles(batch)
      : async (batch: SourceFile[]) => batch.map((file) => validateFile(file));
  const batches: Array<Promise<void>> = [];
  for (let start = 0; start < toParse.length; start += batchSize) {
    const batch = toParse.slice(start, start + batchSize);
    const sources = await Promise.all(batch.map(async ({ path, oid }) => ({ path, content: await readBlob(oid) })));
    batches.push(
      validateBatch(sources).then((parsed) => {
        for (const [position, { index, oid, path }] of batch.entries()) {
          const result = parsed[position]!;
          cache.results.set(path, { oid, result });
          results[index] = result;
        }
      }),
    );
  }
  await Promise.all(batches);
  const seen = new Set(paths);
  for (const path of cache.results.keys()) if (!seen.has(path)) cache.results.delete(path);
  for (const path of decided.keys()) if (!files.has(path)) decided.delete(path);

  const objects = results.flatMap((result) => result.objects);
  const problems: ManifestProblem[] = [...results.flatMap((result) => result.problems), ...validateObjectSet(objects)];
  return { objects, problems };
}

/** The blob a path stands for: itself, or what its symlink chain leads to inside the tree. */
async function resolveFile(
  path: string,
  files: ReadonlyMap<string, TreeFile>,
  readBlob: (oid: string) => Promise<Uint8Array>,
): Promise<{ oid: string } | { refusal: ManifestProblem }> {
  let current = path;
  for (let hop = 0; hop <= maxSymlinkHops; hop++) {
    const entry = files.get(current);
    if (!entry) return { refusal: refusal(path, "symlink points to a file that does not exist in the commit") };
    if (!entry.symlink) return { oid: entry.oid };
    const target = decode(await readBlob(entry.oid));
    const joined = posix.normalize(posix.join(posix.dirname(current), target));
    if (posix.isAbsolute(target) || joined === ".." || joined.startsWith("../")) {
      return { refusal: refusal(path, `symlink points outside the manifests directory (to ${target}): refused`) };
    }
    current = joined;
  }
  return { refusal: refusal(path, `symlink chain longer than ${maxSymlinkHops} links: refused`) };
}

function decode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

function refusal(file: string, message: string): ManifestProblem {
  return { file, line: 1, column: 1, path: "", message, severity: "error" };
}
