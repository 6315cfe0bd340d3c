/**
 * Bad manifests at the gitsync boundary: generated valid manifests, and
 * mutations of them, go through `validateTree` (what GitSync runs on every
 * commit's files). Every valid one is accepted; every mutated one is refused
 * with an error naming the file, a line and the field, and nothing throws.
 * `FAULT_MANIFESTS` sets the number of generated files (default 10,000).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ManifestProblem } from "../../src/errors.ts";
import { validateTree, type TreeCache, type TreeFile } from "../../src/gitsync/commit-files.ts";
import { breakYaml, mutation, serialize, validManifest, yamlBreakage, type Manifest } from "./manifest-arbitraries.ts";

const total = Number(process.env.FAULT_MANIFESTS ?? 10_000);
// Half valid, the rest mutated field by field, a tenth broken as YAML text.
const validRuns = Math.round(total * 0.4);
const mutatedRuns = Math.round(total * 0.5);
const brokenRuns = total - validRuns - mutatedRuns;

/** One file, through the same function GitSync runs on a commit's tree. */
async function validateOne(path: string, text: string): Promise<{ problems: ManifestProblem[]; objects: number }> {
  const blob = new TextEncoder().encode(text);
  const files = new Map<string, TreeFile>([[path, { oid: "blob-1", symlink: false }]]);
  const cache: TreeCache = { results: new Map() };
  const result = await validateTree(files, async () => blob, cache);
  return { problems: result.problems, objects: result.objects.length };
}

function errorsOf(problems: ManifestProblem[]): ManifestProblem[] {
  return problems.filter((problem) => problem.severity === "error");
}

/** Located: the file, a line and column inside it. */
function expectLocated(problems: ManifestProblem[], path: string, text: string): void {
  const lineCount = text.split("\n").length;
  for (const problem of problems) {
    expect(problem.file).toBe(path);
    expect(problem.line).toBeGreaterThanOrEqual(1);
    expect(problem.line).toBeLessThanOrEqual(lineCount + 1);
    expect(problem.column).toBeGreaterThanOrEqual(1);
    expect(problem.message.length).toBeGreaterThan(0);
  }
}

const fileName = fc.record({ dir: fc.constantFrom("", "apps/", "deep/er/"), json: fc.boolean() });
const pathOf = (dir: string, json: boolean) => `${dir}manifest.${json ? "json" : "yaml"}`;
const counts = { valid: 0, mutated: {} as Record<string, number>, broken: 0 };

describe(`${total} generated manifests through the commit validation path`, () => {
  it(`accepts ${validRuns} valid manifests, one object each, no error`, async () => {
    await fc.assert(
      fc.asyncProperty(validManifest, fileName, async (manifest, { dir, json }) => {
        const path = pathOf(dir, json);
        const { problems, objects } = await validateOne(path, serialize(manifest, json));
        expect(errorsOf(problems)).toEqual([]);
        expect(objects).toBe(1);
        counts.valid++;
      }),
      { numRuns: validRuns },
    );
    expect(counts.valid).toBeGreaterThanOrEqual(validRuns);
  }, 180_000);

  it(`refuses ${mutatedRuns} mutated manifests at the mutated field`, async () => {
    const mutated = validManifest.chain((manifest) => mutation(manifest));
    await fc.assert(
      fc.asyncProperty(mutated, fileName, async ({ kind, manifest, path: field }, { dir, json }) => {
        const path = pathOf(dir, json);
        const text = serialize(manifest, json);
        const { problems, objects } = await validateOne(path, text);
        const errors = errorsOf(problems);
        expect(errors.length, `${kind} at ${field} was accepted:\n${text}`).toBeGreaterThan(0);
        expect(objects).toBe(0);
        expectLocated(problems, path, text);
        // The field itself, a field inside it, or (a whole section missing) the section that lacks it.
        const named = errors.some(
          (error) => error.path === field || error.path.startsWith(`${field}.`) || error.path.startsWith(`${field}[`) || field.startsWith(`${error.path}.`),
        );
        expect(named, `${kind} at ${field}: ${JSON.stringify(errors)}`).toBe(true);
        counts.mutated[kind] = (counts.mutated[kind] ?? 0) + 1;
      }),
      { numRuns: mutatedRuns },
    );
    console.log(`mutations refused: ${JSON.stringify(counts.mutated)}`);
  }, 180_000);

  it(`refuses ${brokenRuns} files broken as YAML with a located syntax error`, async () => {
    await fc.assert(
      fc.asyncProperty(validManifest, yamlBreakage, fc.boolean(), async (manifest: Manifest, breakage, json) => {
        const path = pathOf("", json);
        const text = breakYaml(serialize(manifest, json), breakage);
        const { problems, objects } = await validateOne(path, text);
        expect(errorsOf(problems).length, `accepted:\n${text}`).toBeGreaterThan(0);
        expect(objects).toBe(0);
        expectLocated(problems, path, text);
        counts.broken++;
      }),
      { numRuns: brokenRuns },
    );
  }, 180_000);
});
