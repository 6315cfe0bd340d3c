/**
 * The byte formats of Git's tree and commit objects, parsed without a library:
 * they are small and stable (gitformat-tree, gitformat-commit), and parsing them
 * here keeps a full read of a 10,000-file tree in tens of milliseconds.
 */

export type ObjectType = "commit" | "tree" | "blob" | "tag";

/** One object as stored: its type and its content, without the "type size\0" header. */
export interface GitObject {
  type: ObjectType;
  content: Buffer;
}

/** What a tree entry is, from its mode. Submodules (gitlinks) point into another repository. */
export type TreeEntryKind = "tree" | "file" | "symlink" | "gitlink";

export interface TreeEntry {
  name: string;
  oid: string;
  mode: string;
  kind: TreeEntryKind;
}

export function kindOfMode(mode: string): TreeEntryKind {
  if (mode === "40000" || mode === "040000") return "tree";
  if (mode === "120000") return "symlink";
  if (mode === "160000") return "gitlink";
  // 100644, 100755 and the odd legacy modes (100664) old Git versions wrote.
  return "file";
}

/** Entries are `<mode> SP <name> NUL <20-byte oid>`, back to back. */
export function parseTree(content: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let position = 0;
  while (position < content.length) {
    const space = content.indexOf(0x20, position);
    const nul = content.indexOf(0x00, space + 1);
    if (space < 0 || nul < 0 || nul + 21 > content.length) {
      throw new Error("malformed tree object");
    }
    const mode = content.toString("latin1", position, space);
    const name = content.toString("utf8", space + 1, nul);
    const oid = content.toString("hex", nul + 1, nul + 21);
    entries.push({ name, oid, mode, kind: kindOfMode(mode) });
    position = nul + 21;
  }
  return entries;
}

export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch, as recorded (the timezone does not change the instant). */
  timestamp: number;
  timezoneOffset: string;
}

export interface ParsedCommit {
  tree: string;
  parents: string[];
  author: Signature;
  committer: Signature;
  message: string;
}

const signaturePattern = /^(.*?) ?<([^>]*)> (-?\d+)(?: ([+-]\d{4}))?$/;

function parseSignature(value: string): Signature {
  const match = signaturePattern.exec(value);
  if (!match) return { name: value, email: "", timestamp: 0, timezoneOffset: "+0000" };
  return {
    name: match[1]!,
    email: match[2]!,
    timestamp: Number(match[3]),
    timezoneOffset: match[4] ?? "+0000",
  };
}

/**
 * Headers are `key SP value` lines up to the first empty line, then the message.
 * Continuation lines (a leading space, as in `gpgsig`) belong to the previous header
 * and are irrelevant here.
 */
export function parseCommit(content: Buffer): ParsedCommit {
  const text = content.toString("utf8");
  const split = text.indexOf("\n\n");
  const headerText = split < 0 ? text : text.slice(0, split);
  const message = split < 0 ? "" : text.slice(split + 2);
  let tree: string | undefined;
  const parents: string[] = [];
  let author: Signature | undefined;
  let committer: Signature | undefined;
  for (const line of headerText.split("\n")) {
    if (line.startsWith(" ")) continue;
    const space = line.indexOf(" ");
    const key = line.slice(0, space);
    const value = line.slice(space + 1);
    if (key === "tree") tree = value;
    else if (key === "parent") parents.push(value);
    else if (key === "author") author = parseSignature(value);
    else if (key === "committer") committer = parseSignature(value);
  }
  if (!tree || !committer) throw new Error("malformed commit object");
  return { tree, parents, author: author ?? committer, committer, message };
}
