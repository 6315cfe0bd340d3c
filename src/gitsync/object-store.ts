/**
 * A read-only view of a repository's object database: loose objects, packs and
 * alternates, read in place. Reads are synchronous on purpose: each is a small
 * positional read from the page cache, far cheaper than a promise and a thread
 * pool round trip per object, which is what made whole-tree reads slow.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { inflateSync } from "node:zlib";
import { type GitObject, type ObjectType, parseCommit, parseTree, type ParsedCommit, type TreeEntry } from "./object-format.ts";
import { PackFile } from "./pack.ts";

/** The object is in none of the repository's object directories. */
export class MissingObjectError extends Error {
  constructor(readonly oid: string) {
    super(`object ${oid} not found`);
    this.name = "MissingObjectError";
  }
}

const oidPattern = /^[0-9a-f]{40}$/;

export class ObjectStore {
  private readonly objectDirs: string[];
  private packs = new Map<string, PackFile>();

  constructor(readonly gitdir: string) {
    this.objectDirs = objectDirectories(join(gitdir, "objects"));
    this.rescanPacks();
  }

  read(oid: string): GitObject {
    if (!oidPattern.test(oid)) throw new MissingObjectError(oid);
    const found = this.readPacked(oid) ?? this.readLoose(oid);
    if (found) return found;
    // A fetch or a `git gc` since the last scan may have moved it into a new pack.
    this.rescanPacks();
    const retried = this.readPacked(oid);
    if (retried) return retried;
    throw new MissingObjectError(oid);
  }

  has(oid: string): boolean {
    try {
      this.read(oid);
      return true;
    } catch (error) {
      if (error instanceof MissingObjectError) return false;
      throw error;
    }
  }

  readAs(oid: string, type: ObjectType): Buffer {
    const object = this.read(oid);
    if (object.type !== type) throw new Error(`object ${oid} is a ${object.type}, not a ${type}`);
    return object.content;
  }

  readTree(oid: string): TreeEntry[] {
    return parseTree(this.readAs(oid, "tree"));
  }

  readCommit(oid: string): ParsedCommit {
    return parseCommit(this.readAs(oid, "commit"));
  }

  /** Picks up new packs and drops deleted ones (whose open handles would pin the old files). */
  rescanPacks(): void {
    const current = new Map<string, PackFile>();
    for (const objectsDir of this.objectDirs) {
      const packDir = join(objectsDir, "pack");
      let names: string[];
      try {
        names = readdirSync(packDir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (!name.endsWith(".idx") || !names.includes(name.replace(/\.idx$/, ".pack"))) continue;
        const indexPath = join(packDir, name);
        current.set(indexPath, this.packs.get(indexPath) ?? new PackFile(indexPath));
      }
    }
    for (const [indexPath, pack] of this.packs) {
      if (!current.has(indexPath)) pack.close();
    }
    // A mirror gains one small pack per fetch; searching the big initial one first keeps most lookups to one probe.
    this.packs = new Map([...current].sort(([, a], [, b]) => b.objectCount - a.objectCount));
  }

  close(): void {
    for (const pack of this.packs.values()) pack.close();
    this.packs.clear();
  }

  private readPacked(oid: string): GitObject | undefined {
    for (const pack of this.packs.values()) {
      const offset = pack.offsetOf(oid);
      if (offset !== undefined) return pack.read(offset, (base) => this.read(base));
    }
    return undefined;
  }

  private readLoose(oid: string): GitObject | undefined {
    for (const objectsDir of this.objectDirs) {
      let compressed: Buffer;
      try {
        compressed = readFileSync(join(objectsDir, oid.slice(0, 2), oid.slice(2)));
      } catch {
        continue;
      }
      const raw = inflateSync(compressed);
      const nul = raw.indexOf(0);
      const [type, size] = raw.toString("latin1", 0, nul).split(" ");
      const content = raw.subarray(nul + 1);
      if (Number(size) !== content.length || !isObjectType(type)) {
        throw new Error(`loose object ${oid} is corrupt`);
      }
      return { type, content };
    }
    return undefined;
  }
}

function isObjectType(value: string | undefined): value is ObjectType {
  return value === "commit" || value === "tree" || value === "blob" || value === "tag";
}

/** The repository's own objects directory, then those listed in objects/info/alternates (`git clone --shared`). */
function objectDirectories(objectsDir: string, seen = new Set<string>()): string[] {
  if (seen.has(objectsDir)) return [];
  seen.add(objectsDir);
  const dirs = [objectsDir];
  const alternatesFile = join(objectsDir, "info", "alternates");
  if (!existsSync(alternatesFile)) return dirs;
  for (const line of readFileSync(alternatesFile, "utf8").split("\n")) {
    const entry = line.trim();
    if (!entry || entry.startsWith("#")) continue;
    const alternate = isAbsolute(entry) ? entry : resolve(objectsDir, entry);
    dirs.push(...objectDirectories(alternate, seen));
  }
  return dirs;
}
