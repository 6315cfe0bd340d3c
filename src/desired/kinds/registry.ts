import type { z } from "zod";

/**
 * What capstan knows about one kind. Each kind's file exports one of these;
 * `kinds/index.ts` collects them. Parsing looks a document's `kind` up here,
 * checks its `apiVersion`, and validates it with `schema`.
 */
export interface KindDefinition<Schema extends z.ZodType = z.ZodType> {
  kind: string;
  /** Accepted apiVersions, e.g. ["apps/v1", "capstan.dev/v1"]. */
  apiVersions: readonly string[];
  /** Cluster-scoped kinds (Namespace, Node) have namespace "". */
  namespaced: boolean;
  /**
   * Strict schema of the whole manifest (apiVersion, kind, metadata, spec, ...):
   * unknown fields are errors, Kubernetes defaults are applied on parse.
   */
  schema: Schema;
  /** What is stored in `objects.spec` (the manifest's `spec`, or the data fields of ConfigMap/Secret). */
  specOf(manifest: z.infer<Schema>): Record<string, unknown>;
}
