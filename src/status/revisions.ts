import { z } from "zod";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { historyEntrySchema, revisionSchema, type DesiredStore, type HistoryEntry, type RolloutLog } from "../desired/index.ts";

/** Response shape of GET /api/revisions: the CLI parses with this same schema. */
export const revisionListSchema = z.object({
  items: z.array(revisionSchema),
  /** Pass as `before` to get the next (older) page; null on the last page. */
  next: z.number().int().nullable(),
});
export type RevisionList = z.infer<typeof revisionListSchema>;

export const revisionQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(1).optional(),
});
export type RevisionPageQuery = z.infer<typeof revisionQuerySchema>;

/** One page of revisions, newest first (by the id capstan gave them when it saw them); `next` null on the last page. */
export async function revisionPage(store: DesiredStore, query: RevisionPageQuery): Promise<RevisionList> {
  const items = await store.listRevisions({ limit: query.limit + 1, before: query.before });
  const page = items.slice(0, query.limit);
  return { items: page, next: items.length > query.limit ? page.at(-1)!.id : null };
}

/**
 * Response shape of GET /api/revisions/:sha: the revision (its `errors` and
 * `warnings` located by file and line), what it changed object by object
 * (Secret values never included), the rollouts it started with their
 * outcomes, its health, and whether it is the live one.
 */
export const revisionDetailSchema = historyEntrySchema.extend({ live: z.boolean() });
export type RevisionDetail = z.infer<typeof revisionDetailSchema>;

/** A full sha or a prefix of one: what the API and the page accept in a revision's address. */
export const shaOrPrefixSchema = z
  .string()
  .transform((sha) => sha.toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{4,40}$/, "a commit sha or a unique prefix of one (4 to 40 hex digits)"));

/**
 * One revision by its sha or a unique prefix of one, as its detail page and
 * GET /api/revisions/:sha show it. NotFoundError (404) when capstan has seen no
 * such commit, BadRequestError (400) when the prefix is ambiguous. Without a
 * rollout history only the revision itself is known (no changes, no rollouts).
 */
export async function revisionDetail(store: DesiredStore, rollouts: RolloutLog | undefined, shaOrPrefix: string): Promise<RevisionDetail> {
  const parsed = shaOrPrefixSchema.safeParse(shaOrPrefix);
  if (!parsed.success) throw new BadRequestError(`bad sha ${JSON.stringify(shaOrPrefix.slice(0, 64))}: ${parsed.error.issues[0]!.message}`);
  const prefix = parsed.data;
  const matches = rollouts ? await rollouts.history({ shaPrefix: prefix, limit: 2 }) : await revisionsByPrefix(store, prefix);
  if (matches.length === 0) throw new NotFoundError(`no revision ${prefix}: capstan has seen no such commit`);
  if (matches.length > 1) throw new BadRequestError(`${prefix} is ambiguous (${matches.map((entry) => entry.sha.slice(0, 10)).join(", ")}, …): give more digits`);
  const sync = await store.getSyncState();
  return { ...matches[0]!, live: sync?.liveSha === matches[0]!.sha };
}

/** Without a rollout log: the store's revision (a full sha), or the newest 500 searched for the prefix. */
async function revisionsByPrefix(store: DesiredStore, prefix: string): Promise<HistoryEntry[]> {
  const candidates = prefix.length === 40 ? [await store.getRevision(prefix)].filter((revision) => revision !== null) : await store.listRevisions({ limit: 500 });
  return candidates
    .filter((revision) => revision.sha.startsWith(prefix))
    .slice(0, 2)
    .map((revision) => ({ ...revision, health: null, changes: [], rollouts: [] }));
}
