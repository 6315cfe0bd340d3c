/**
 * The desired state: the manifest model (kinds), parsing and validation of
 * manifest files, and the store that holds each applied revision.
 */
export * from "./kinds/index.ts";
export type { DesiredObject, SourceFile, SourcePosition } from "./types.ts";
export { parseSourceFile, defaultParseLimits, type ParseLimits, type ParsedDocument, type ParseResult } from "./parse.ts";
export { locateField, formatFieldPath, type FieldPath, type FieldLocation } from "./locate.ts";
export { checkImmutableConfig } from "./immutable.ts";
export { validateFile, validateFiles, validateDocument, validateObjectSet, isApplicable, type ValidationResult } from "./validate.ts";
export { isManifestPath, parseIgnoreFile, ignoreNothing, ignoreFileName, type IgnoreMatcher } from "./manifest-paths.ts";
export { ValidationPool } from "./validation-pool.ts";
export { loadDirectory } from "./load-directory.ts";
export { canonicalJson, specHash } from "./canonical.ts";
export * from "./records.ts";
export type { DesiredStore, ApplyOptions, DriftRepair, ApplySummary, ObjectKey, StatusUpdate, ObjectFilter, EventQuery } from "./store.ts";
export { finalizersField } from "./store.ts";
export { pruneAnnotation } from "./annotations.ts";
export { PgDesiredStore } from "./store-pg.ts";
export { MemoryDesiredStore } from "./store-memory.ts";
export * from "./rollouts.ts";
export { PgRolloutLog } from "./rollouts-pg.ts";
export { diffObjects, formatChanges, objectChangeRecordSchema, type ObjectChangeRecord, type ComparableObject } from "./object-diff.ts";
