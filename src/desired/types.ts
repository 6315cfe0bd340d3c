/**
 * The contract between parsing, validation, the desired-state store and gitsync.
 * Kept in one small file so that each side can be written and tested on its own.
 */

/** A file as read from a Git tree or a directory: a repo-relative POSIX path and its bytes. */
export interface SourceFile {
  path: string;
  content: Uint8Array | string;
}

/** Where a manifest came from, for error messages and the page. */
export interface SourcePosition {
  file: string;
  /** 1-based line and column of the document's start. */
  line: number;
  column: number;
}

/**
 * One validated manifest, ready to store. `spec` is what goes into `objects.spec`:
 * the manifest's `spec` for most kinds; for ConfigMap/Secret the data fields
 * (see each kind's `specOf`). Defaults are already applied.
 */
export interface DesiredObject {
  apiVersion: string;
  kind: string;
  /** "" for cluster-scoped kinds (Namespace, Node). */
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
  source: SourcePosition;
}
