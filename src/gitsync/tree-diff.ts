/**
 * Listing and diffing trees. The diff walks both trees together and never
 * opens a subtree whose oid is the same on both sides, so a one-file change in
 * a 10,000-file repository reads only the trees on the path to that file.
 *
 * Measured on a generated repository of 10,000 manifests in nested dirs
 * (one-file change): isomorphic-git `walk` over two TREEs ≈ 65-130 ms,
 * recursive isomorphic-git `readTree` ≈ 30-90 ms, this walk over
 * ObjectStore ≈ 1 ms.
 */
import type { TreeEntry } from "./object-format.ts";
import type { ObjectStore } from "./object-store.ts";

/**
 * A file in a tree. Symlinks (mode 120000) are reported, never followed, so
 * that the caller can refuse them; submodules (gitlinks) are left out, as they
 * hold no files of this repository.
 */
export interface TreeBlob {
  /** POSIX path relative to the listed tree. */
  path: string;
  oid: string;
  symlink: boolean;
}

/** A file that differs between two trees. `oid` null: deleted (`symlink` says what it was). */
export interface BlobChange {
  path: string;
  oid: string | null;
  symlink: boolean;
}

function isBlob(entry: TreeEntry): boolean {
  return entry.kind === "file" || entry.kind === "symlink";
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Every file under `treeOid`, sorted by path. */
export function listTreeBlobs(store: ObjectStore, treeOid: string): TreeBlob[] {
  const blobs: TreeBlob[] = [];
  const visit = (oid: string, prefix: string): void => {
    for (const entry of store.readTree(oid)) {
      if (entry.kind === "tree") visit(entry.oid, `${prefix}${entry.name}/`);
      else if (isBlob(entry)) blobs.push({ path: prefix + entry.name, oid: entry.oid, symlink: entry.kind === "symlink" });
    }
  };
  visit(treeOid, "");
  return blobs.sort(byPath);
}

/**
 * Files added, modified (content, or file turned symlink) or deleted from
 * `fromTree` to `toTree`, sorted by path. A null tree is empty. A mode change
 * alone (chmod +x) is not a change: the manifest reads the same.
 */
export function diffTrees(store: ObjectStore, fromTree: string | null, toTree: string | null): BlobChange[] {
  const changes: BlobChange[] = [];
  const walk = (from: string | null, to: string | null, prefix: string): void => {
    if (from === to) return;
    const before = new Map((from ? store.readTree(from) : []).map((entry) => [entry.name, entry]));
    const after = to ? store.readTree(to) : [];
    for (const entry of after) {
      const old = before.get(entry.name);
      before.delete(entry.name);
      if (old && old.oid === entry.oid && old.kind === entry.kind) continue;
      const path = prefix + entry.name;
      if (entry.kind === "tree") {
        if (old && isBlob(old)) changes.push({ path, oid: null, symlink: old.kind === "symlink" });
        walk(old?.kind === "tree" ? old.oid : null, entry.oid, `${path}/`);
      } else if (isBlob(entry)) {
        if (old?.kind === "tree") walk(old.oid, null, `${path}/`);
        changes.push({ path, oid: entry.oid, symlink: entry.kind === "symlink" });
      } else if (old) {
        // A file replaced by a submodule: it is gone as far as manifests go.
        removed(old, path);
      }
    }
    for (const [name, old] of before) removed(old, prefix + name);
  };
  const removed = (old: TreeEntry, path: string): void => {
    if (old.kind === "tree") walk(old.oid, null, `${path}/`);
    else if (isBlob(old)) changes.push({ path, oid: null, symlink: old.kind === "symlink" });
  };
  walk(fromTree, toTree, "");
  return changes.sort(byPath);
}

/**
 * The tree at `path` ("" = the root) inside `rootTree`: its oid, or "missing"
 * when no such entry exists, or "not-a-tree" when it is a file.
 */
export function resolveSubtree(store: ObjectStore, rootTree: string, path: string): string | "missing" | "not-a-tree" {
  let oid = rootTree;
  for (const segment of path.split("/").filter(Boolean)) {
    const entry = store.readTree(oid).find((candidate) => candidate.name === segment);
    if (!entry) return "missing";
    if (entry.kind !== "tree") return "not-a-tree";
    oid = entry.oid;
  }
  return oid;
}
