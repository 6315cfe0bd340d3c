import type pg from "pg";
import type { ManifestProblem } from "../errors.ts";
import type { CommitInfo, RevisionState } from "./records.ts";

type Queryable = Pick<pg.Pool, "query"> | pg.PoolClient;

/**
 * One row per commit seen, whatever became of it. Seeing a commit again
 * overwrites its state but keeps applied_at unless it is applied again, so a
 * revision later superseded still says when it went live.
 */
export async function upsertRevision(
  client: Queryable,
  commit: CommitInfo,
  state: RevisionState,
  errors: ManifestProblem[],
  warnings: ManifestProblem[],
  objectCount: number | null,
): Promise<void> {
  await client.query(
    `INSERT INTO revisions (sha, parent_sha, author_name, author_email, message, committed_at,
                           state, errors, warnings, object_count, seen_at, applied_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), CASE WHEN $7 = 'applied' THEN now() END)
     ON CONFLICT (sha) DO UPDATE SET
       state = excluded.state, errors = excluded.errors, warnings = excluded.warnings,
       object_count = excluded.object_count, seen_at = now(),
       applied_at = COALESCE(excluded.applied_at, revisions.applied_at)`,
    [
      commit.sha,
      commit.parentSha,
      commit.authorName,
      commit.authorEmail,
      commit.message,
      commit.committedAt,
      state,
      JSON.stringify(errors),
      JSON.stringify(warnings),
      objectCount,
    ],
  );
}
