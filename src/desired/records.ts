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

const stringMapSchema = z.record(z.string(), z.string());
const jsonObjectSchema = z.record(z.string(), z.unknown());

/**
 * An object a controller creates (a ReplicaSet, a Pod): stored with source
 * `controller`, generation 1 and a new uid. Labels, annotations and status
 * default to empty, ownerUid to none.
 */
export const newObjectSchema = z.object({
  apiVersion: z.string(),
  kind: z.string().min(1),
  /** "" for cluster-scoped kinds. */
  namespace: z.string(),
  name: z.string().min(1),
  labels: stringMapSchema.optional(),
  annotations: stringMapSchema.optional(),
  spec: jsonObjectSchema,
  status: jsonObjectSchema.optional(),
  ownerUid: z.string().nullable().optional(),
});
export type NewObject = z.infer<typeof newObjectSchema>;

/** What an update replaces; each field given replaces the stored one whole, absent fields are kept. */
export const objectPatchSchema = z.object({
  labels: stringMapSchema.optional(),
  annotations: stringMapSchema.optional(),
  spec: jsonObjectSchema.optional(),
  /** A new owner, or null for none (a StatefulSet adopting or releasing its claims as its retention policy changes). */
  ownerUid: z.string().nullable().optional(),
});
export type ObjectPatch = z.infer<typeof objectPatchSchema>;

export const eventTypeSchema = z.enum(["Normal", "Warning"]);
export type EventType = z.infer<typeof eventTypeSchema>;

/**
 * An event to record about an object. Repeats (same kind, namespace, name,
 * type, reason, message and source) are folded into one stored event.
 */
export const newEventSchema = z.object({
  /** The incarnation the event is about, when known. */
  objectUid: z.string().nullable().optional(),
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  type: eventTypeSchema,
  reason: z.string(),
  message: z.string(),
  /** The reporting component, e.g. "deployment-controller", "scheduler". */
  source: z.string(),
  /** When it happened; the store's clock when absent. */
  at: z.coerce.date().optional(),
});
export type NewEvent = z.infer<typeof newEventSchema>;

/** A stored event: `count` occurrences between `firstTime` and `lastTime`. */
export const storedEventSchema = z.object({
  id: z.number().int(),
  objectUid: z.string().nullable(),
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  type: eventTypeSchema,
  reason: z.string(),
  message: z.string(),
  count: z.number().int(),
  firstTime: z.coerce.date(),
  lastTime: z.coerce.date(),
  source: z.string(),
});
export type StoredEvent = z.infer<typeof storedEventSchema>;

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
