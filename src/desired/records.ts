import { z } from "zod";

/**
 * The stored and exchanged shapes of the desired-state store. The JSON API and
 * the CLI read these same schemas, so a field is named once.
 */

export const manifestProblemSchema = z.object({
  file: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  path: z.string(),
  message: z.string(),
  severity: z.enum(["error", "warning"]),
});

export const revisionStateSchema = z.enum(["pending", "applied", "rejected", "superseded"]);
export type RevisionState = z.infer<typeof revisionStateSchema>;

/** A commit as read from Git. */
export const commitInfoSchema = z.object({
  sha: z.string(),
  parentSha: z.string().nullable(),
  authorName: z.string(),
  authorEmail: z.string(),
  message: z.string(),
  committedAt: z.coerce.date(),
});
export type CommitInfo = z.infer<typeof commitInfoSchema>;

export const revisionSchema = commitInfoSchema.extend({
  id: z.number().int(),
  state: revisionStateSchema,
  errors: z.array(manifestProblemSchema),
  warnings: z.array(manifestProblemSchema),
  objectCount: z.number().int().nullable(),
  seenAt: z.coerce.date(),
  appliedAt: z.coerce.date().nullable(),
});
export type Revision = z.infer<typeof revisionSchema>;

export const objectSourceSchema = z.enum(["git", "controller"]);

export const storedObjectSchema = z.object({
  uid: z.string(),
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  spec: z.record(z.string(), z.unknown()),
  status: z.record(z.string(), z.unknown()),
  generation: z.number().int(),
  observedGeneration: z.number().int(),
  specHash: z.string(),
  resourceVersion: z.number().int(),
  ownerUid: z.string().nullable(),
  source: objectSourceSchema,
  revisionSha: z.string().nullable(),
  sourceFile: z.string().nullable(),
  sourceLine: z.number().int().nullable(),
  createdAt: z.coerce.date(),
  updatedAt: z.coerce.date(),
  deletedAt: z.coerce.date().nullable(),
});
export type StoredObject = z.infer<typeof storedObjectSchema>;

/** Where the watched Git source stands: shown on the page and by `capstan status`. */
export const syncStateSchema = z.object({
  url: z.string(),
  branch: z.string(),
  path: z.string(),
  lastFetchAt: z.coerce.date().nullable(),
  lastSuccessAt: z.coerce.date().nullable(),
  lastError: z.string().nullable(),
  unreachableSince: z.coerce.date().nullable(),
  liveSha: z.string().nullable(),
  lastSeenSha: z.string().nullable(),
});
export type SyncState = z.infer<typeof syncStateSchema>;
