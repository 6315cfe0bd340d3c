/**
 * Rows of the revisions and objects tables as records. Their own file because
 * the rollout log reads revision rows too, and importing them from the store
 * made the store and the rollout log import each other.
 */
import type { Revision, StoredObject } from "./records.ts";

export function revisionFromRow(row: Record<string, any>): Revision {
  return {
    id: Number(row.id),
    sha: row.sha,
    parentSha: row.parent_sha,
    authorName: row.author_name ?? "",
    authorEmail: row.author_email ?? "",
    message: row.message ?? "",
    committedAt: row.committed_at,
    state: row.state,
    errors: row.errors ?? [],
    warnings: row.warnings ?? [],
    objectCount: row.object_count,
    seenAt: row.seen_at,
    appliedAt: row.applied_at,
  };
}

export function objectFromRow(row: Record<string, any>): StoredObject {
  return {
    uid: row.uid,
    apiVersion: row.api_version,
    kind: row.kind,
    namespace: row.namespace,
    name: row.name,
    labels: row.labels,
    annotations: row.annotations,
    spec: row.spec,
    status: row.status,
    generation: Number(row.generation),
    observedGeneration: Number(row.observed_generation),
    specHash: row.spec_hash,
    resourceVersion: Number(row.resource_version),
    ownerUid: row.owner_uid,
    source: row.source,
    revisionSha: row.revision_sha,
    sourceFile: row.source_file,
    sourceLine: row.source_line,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  };
}
