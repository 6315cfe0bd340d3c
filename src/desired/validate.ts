import { z } from "zod";
import type { ManifestProblem } from "../errors.ts";
import { endpointSliceFromGitMessage, findKind, kindDefinitions } from "./kinds/index.ts";
import { formatFieldPath, locateField, type FieldPath } from "./locate.ts";
import { rememberFieldLocations } from "./object-locations.ts";
import { validateObjectSet } from "./object-set.ts";
import { parseSourceFile, type ParsedDocument, type ParseLimits } from "./parse.ts";
import { configReferences } from "./references.ts";
import { fieldIssues } from "./schema-issues.ts";
import type { DesiredObject, SourceFile } from "./types.ts";

export { validateObjectSet } from "./object-set.ts";

export interface ValidationResult {
  objects: DesiredObject[];
  problems: ManifestProblem[];
}

/** A commit (or a directory) can be applied iff nothing in it is an error; warnings are stored with it. */
export function isApplicable(problems: readonly ManifestProblem[]): boolean {
  return !problems.some((problem) => problem.severity === "error");
}

/**
 * The whole check of a commit's manifest files: each file on its own, then
 * the rules across files. The caller picks the files (`isManifestPath`).
 */
export function validateFiles(files: readonly SourceFile[], limits?: Partial<ParseLimits>): ValidationResult {
  const results = files.map((file) => validateFile(file, limits));
  const objects = results.flatMap((result) => result.objects);
  const problems = [...results.flatMap((result) => result.problems), ...validateObjectSet(objects)];
  return { objects, problems };
}

/**
 * One file, a pure function of its path and content: gitsync caches the
 * result by blob id and does not parse an unchanged file again.
 */
export function validateFile(file: SourceFile, limits?: Partial<ParseLimits>): ValidationResult {
  const parsed = parseSourceFile(file, limits);
  const objects: DesiredObject[] = [];
  const problems = [...parsed.problems];
  for (const document of parsed.documents) {
    const result = validateDocument(document);
    if (result.object) objects.push(result.object);
    problems.push(...result.problems);
  }
  return { objects, problems };
}

// What every kind's schema output holds; read through zod rather than cast.
const metadataView = z.object({
  metadata: z.object({
    name: z.string(),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
});

/**
 * The data fields of a ConfigMap or Secret, key by key, where the manifest has
 * them: an immutable one changed in a later commit is reported at the key.
 */
function configDataPaths(kind: string, manifest: Record<string, unknown>): FieldPath[] {
  if (kind !== "ConfigMap" && kind !== "Secret") return [];
  const paths: FieldPath[] = [["immutable"], ["type"]];
  for (const field of ["data", "binaryData", "stringData"]) {
    const value = manifest[field];
    if (typeof value !== "object" || value === null) continue;
    for (const key of Object.keys(value)) paths.push([field, key]);
  }
  return paths;
}

export function validateDocument(parsed: ParsedDocument): { object?: DesiredObject; problems: ManifestProblem[] } {
  const { manifest } = parsed;
  const problem = (path: FieldPath, message: string): ManifestProblem => ({
    file: parsed.file,
    ...locateField(parsed, path),
    path: formatFieldPath(path),
    message,
    severity: "error",
  });
  const knownKinds = kindDefinitions.map((definition) => definition.kind).join(", ");

  const kind = manifest.kind;
  if (typeof kind !== "string" || kind === "") {
    const what = kind === undefined ? "Required value" : "must be a non-empty string";
    return { problems: [problem(["kind"], `${what}: the kind of object, one of ${knownKinds}`)] };
  }
  const definition = findKind(kind);
  if (kind === "EndpointSlice") return { problems: [problem(["kind"], endpointSliceFromGitMessage)] };
  if (!definition) {
    const sameButCase = kindDefinitions.find((candidate) => candidate.kind.toLowerCase() === kind.toLowerCase());
    const hint = sameButCase ? ` (kinds are case-sensitive: did you mean ${sameButCase.kind}?)` : "";
    return { problems: [problem(["kind"], `unknown kind ${JSON.stringify(kind)}${hint}: known kinds are ${knownKinds}`)] };
  }

  const problems: ManifestProblem[] = [];
  const accepted = definition.apiVersions.join(", ");
  const apiVersion = manifest.apiVersion;
  if (apiVersion === undefined) {
    problems.push(problem(["apiVersion"], `Required value: kind ${kind} is served by ${accepted}`));
  } else if (typeof apiVersion !== "string" || !definition.apiVersions.includes(apiVersion)) {
    problems.push(problem(["apiVersion"], `apiVersion ${JSON.stringify(apiVersion)} does not serve kind ${kind}: use one of ${accepted}`));
  }

  const result = definition.schema.safeParse(manifest);
  if (!result.success) {
    for (const issue of fieldIssues(result.error.issues, manifest)) {
      // The apiVersion was judged above, with the accepted versions named.
      if (issue.path.length === 1 && issue.path[0] === "apiVersion") continue;
      problems.push(problem(issue.path, issue.message));
    }
  }
  if (!result.success || problems.length > 0) return { problems };

  const { metadata } = metadataView.parse(result.data);
  if (!definition.namespaced && metadata.namespace !== undefined) {
    return { problems: [problem(["metadata", "namespace"], `${kind} is cluster-scoped: metadata.namespace must not be set`)] };
  }
  const object: DesiredObject = {
    apiVersion: String(apiVersion),
    kind,
    // As the API server does: a namespaced object without a namespace lands in "default".
    namespace: definition.namespaced ? (metadata.namespace ?? "default") : "",
    name: metadata.name,
    labels: metadata.labels ?? {},
    annotations: metadata.annotations ?? {},
    spec: definition.specOf(result.data),
    source: parsed.position,
  };
  rememberFieldLocations(object, parsed, [
    ["metadata", "name"],
    ["metadata", "namespace"],
    ...configReferences(object).flatMap((reference) => [reference.path, ...reference.keys.map((key) => key.path)]),
    ...configDataPaths(kind, manifest),
  ]);
  return { object, problems };
}
