/**
 * Writes a rollback commit: the branch tip's tree with the manifests (all of
 * them, or some files) put back as they were in an older commit. Only objects
 * are written here (isomorphic-git, into the repository or the mirror); moving
 * the branch is publish.ts's job, so a dry run writes harmless loose objects
 * and nothing else.
 */
import * as fs from "node:fs";
import * as git from "isomorphic-git";

interface Entry {
  mode: string;
  oid: string;
  type: "blob" | "tree" | "commit";
}

export interface RestoreCommitInput {
  gitdir: string;
  /** The branch tip: the new commit's parent, whose tree is edited. */
  baseSha: string;
  /** The commit whose manifests are restored. */
  targetSha: string;
  /** The manifests sub-directory ("" = the repository root). */
  subPath: string;
  /** Files under subPath to restore (a file the target lacks is deleted); absent: the whole sub-directory. */
  files?: string[];
  message: string;
  author: { name: string; email: string };
  now: Date;
}

/** The new commit's sha, and whether its tree differs from the base's at all. */
export async function writeRestoreCommit(input: RestoreCommitInput): Promise<{ sha: string; changed: boolean }> {
  const { gitdir } = input;
  const baseTree = (await git.readCommit({ fs, gitdir, oid: input.baseSha })).commit.tree;
  const targetTree = (await git.readCommit({ fs, gitdir, oid: input.targetSha })).commit.tree;
  const prefix = input.subPath ? input.subPath.split("/") : [];
  let tree: string | null = baseTree;
  const paths = input.files ? input.files.map((file) => [...prefix, ...file.split("/")]) : [prefix];
  for (const segments of paths) {
    const restored = await entryAt(gitdir, targetTree, segments);
    tree = await replaceAt(gitdir, tree, segments, restored);
  }
  tree ??= await git.writeTree({ fs, gitdir, tree: [] });
  const seconds = Math.floor(input.now.getTime() / 1000);
  const who = { ...input.author, timestamp: seconds, timezoneOffset: 0 };
  const sha = await git.writeCommit({
    fs,
    gitdir,
    commit: { message: input.message.endsWith("\n") ? input.message : `${input.message}\n`, tree, parent: [input.baseSha], author: who, committer: who },
  });
  return { sha, changed: tree !== baseTree };
}

/** The entry at `segments` under a tree (the tree itself for no segments), or null. */
async function entryAt(gitdir: string, treeOid: string, segments: string[]): Promise<Entry | null> {
  if (segments.length === 0) return { mode: "040000", oid: treeOid, type: "tree" };
  const [head, ...rest] = segments;
  const { tree } = await git.readTree({ fs, gitdir, oid: treeOid });
  const entry = tree.find((candidate) => candidate.path === head);
  if (!entry) return null;
  if (rest.length === 0) return { mode: entry.mode, oid: entry.oid, type: entry.type };
  return entry.type === "tree" ? entryAt(gitdir, entry.oid, rest) : null;
}

/**
 * A copy of the tree with the entry at `segments` replaced (null: removed);
 * directories left empty disappear, as Git has no empty trees. Null when the
 * result is empty.
 */
async function replaceAt(gitdir: string, treeOid: string | null, segments: string[], entry: Entry | null): Promise<string | null> {
  if (segments.length === 0) return entry?.type === "tree" ? entry.oid : null;
  const [head, ...rest] = segments as [string, ...string[]];
  const entries = treeOid ? (await git.readTree({ fs, gitdir, oid: treeOid })).tree : [];
  const existing = entries.find((candidate) => candidate.path === head);
  let replacement: Entry | null;
  if (rest.length === 0) replacement = entry;
  else {
    const subtree = await replaceAt(gitdir, existing?.type === "tree" ? existing.oid : null, rest, entry);
    replacement = subtree ? { mode: "040000", oid: subtree, type: "tree" } : null;
  }
  const next = entries.filter((candidate) => candidate.path !== head);
  if (replacement) next.push({ path: head, ...replacement });
  if (next.length === 0) return null;
  // Git orders tree entries by name, a directory compared as if it ended in "/".
  const sortKey = (item: { path: string; type: string }) => (item.type === "tree" ? `${item.path}/` : item.path);
  next.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
  return git.writeTree({ fs, gitdir, tree: next });
}
