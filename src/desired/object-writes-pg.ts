/**
 * Writing a commit's git-sourced objects: a plan made in memory against the
 * live rows, then set-based statements. The store calls these only inside its
 * fenced transaction, holding the sync lock; nothing here writes on its own.
 */
import type pg from "pg";
import { gitHash, specHash } from "./canonical.ts";
import type { ComparableObject } from "./object-diff.ts";
import type { DesiredObject } from "./types.ts";

type Queryable = Pick<pg.Pool, "query"> | pg.PoolClient;

export interface ObjectWrite {
  uid?: string;
  kind: string;
  namespace: string;
  name: string;
  api_version: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
  spec_hash: string;
  git_hash: string;
  source_file: string;
  source_line: number;
}

interface WritePlan {
  creates: ObjectWrite[];
  updates: ObjectWrite[];
  deletes: string[];
  unchanged: number;
}

const keyOf = (kind: string, namespace: string, name: string): string => `${kind}\u0001${namespace}\u0001${name}`;

/**
 * Diffs the commit's objects against the live rows in memory so that the
 * writes are three set-based statements, whatever the number of objects.
 * A live controller-made object with the same key is adopted by Git.
 */
export async function planObjectWrites(client: Queryable, objects: DesiredObject[]): Promise<WritePlan> {
  const kinds = [...new Set(objects.map((object) => object.kind))];
  // Narrow columns in array rows: reading every live object's jsonb, or even
  // six named columns, would dominate a one-file sync of a large repository.
  const live = await client.query<[uid: string, key: string, gitHash: string | null, fromGit: boolean]>({
    text: `SELECT uid, kind || chr(1) || namespace || chr(1) || name, git_hash, source = 'git'
           FROM objects WHERE deleted_at IS NULL AND (source = 'git' OR kind = ANY($1::text[]))`,
    values: [kinds],
    rowMode: "array",
  });
  const liveByKey = new Map(live.rows.map((row) => [row[1], row]));
  const plan: WritePlan = { creates: [], updates: [], deletes: [], unchanged: 0 };
  const wanted = new Set<string>();
  for (const object of objects) {
    const key = keyOf(object.kind, object.namespace, object.name);
    wanted.add(key);
    const row = liveByKey.get(key);
    const hash = gitHash(object);
    if (row?.[3] && row[2] === hash) {
      plan.unchanged++;
      continue;
    }
    const write: ObjectWrite = {
      kind: object.kind,
      namespace: object.namespace,
      name: object.name,
      api_version: object.apiVersion,
      labels: object.labels,
      annotations: object.annotations,
      spec: object.spec,
      spec_hash: specHash(object.spec),
      git_hash: hash,
      source_file: object.source.file,
      source_line: object.source.line,
    };
    if (row) plan.updates.push({ ...write, uid: row[0] });
    else plan.creates.push(write);
  }
  for (const [uid, key, , fromGit] of live.rows) if (fromGit && !wanted.has(key)) plan.deletes.push(uid);
  return plan;
}

const recordsetColumns = `kind text, namespace text, name text, api_version text, labels jsonb, annotations jsonb,
  spec jsonb, spec_hash text, git_hash text, source_file text, source_line int`;

export async function insertObjects(client: Queryable, writes: ObjectWrite[], sha: string): Promise<void> {
  await client.query(
    `INSERT INTO objects (kind, namespace, name, api_version, labels, annotations, spec, spec_hash, git_hash,
                          source, revision_sha, source_file, source_line)
     SELECT x.kind, x.namespace, x.name, x.api_version, x.labels, x.annotations, x.spec, x.spec_hash, x.git_hash,
            'git', $2, x.source_file, x.source_line
     FROM jsonb_to_recordset($1::jsonb) AS x(${recordsetColumns})`,
    [JSON.stringify(writes), sha],
  );
}

export async function updateObjects(client: Queryable, writes: ObjectWrite[], sha: string): Promise<void> {
  // generation counts spec changes only, as in Kubernetes; labels and annotations do not bump it.
  await client.query(
    `UPDATE objects o SET
       api_version = x.api_version, labels = x.labels, annotations = x.annotations, spec = x.spec,
       generation = o.generation + CASE WHEN o.spec_hash <> x.spec_hash THEN 1 ELSE 0 END,
       spec_hash = x.spec_hash, git_hash = x.git_hash, source = 'git', revision_sha = $2,
       source_file = x.source_file, source_line = x.source_line
     FROM jsonb_to_recordset($1::jsonb) AS x(uid uuid, ${recordsetColumns})
     WHERE o.uid = x.uid`,
    [JSON.stringify(writes), sha],
  );
}

/** The compared parts of live objects by uid (only those a commit touches, so a one-file sync stays narrow). */
export async function comparableRows(client: Queryable, uids: string[]): Promise<Array<ComparableObject & { uid: string }>> {
  if (uids.length === 0) return [];
  const result = await client.query(
    "SELECT uid, kind, namespace, name, labels, annotations, spec FROM objects WHERE uid = ANY($1::uuid[])",
    [uids],
  );
  return result.rows as Array<ComparableObject & { uid: string }>;
}
