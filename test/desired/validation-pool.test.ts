import { afterAll, describe, expect, it } from "vitest";
import { ValidationPool, validateFile, validateObjectSet, type SourceFile } from "../../src/desired/index.ts";

const pool = new ValidationPool({ threads: 2 });
afterAll(() => pool.close());

/** Good files, files with schema errors, and objects whose cross-file problems point into their fields. */
function sampleFiles(): SourceFile[] {
  return Array.from({ length: 250 }, (_, index): SourceFile => {
    const path = `dir-${index % 7}/file-${index}.yaml`;
    if (index % 50 === 3) return { path, content: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad-${index}\n  lables: {}\n` };
    if (index % 50 === 4) return { path, content: "kind: [unclosed\n" };
    const namespace = index % 25 === 0 ? "missing-namespace" : "default";
    return {
      path,
      content: Buffer.from(
        `# file ${index}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: { n: "${index}" }\n  name: map-${index % 240}\n  namespace: ${namespace}\ndata:\n  key: "${index}"\n`,
      ),
    };
  });
}

describe("ValidationPool", () => {
  it("gives, file by file, what validateFile gives on this thread, and the cross-file checks point at the same fields", async () => {
    const files = sampleFiles();
    const onThisThread = files.map((file) => validateFile(file));
    const onWorkers = await pool.validateFiles(files);
    expect(onWorkers).toEqual(onThisThread);

    const problemsHere = validateObjectSet(onThisThread.flatMap((result) => result.objects));
    const problemsThere = validateObjectSet(onWorkers.flatMap((result) => result.objects));
    expect(problemsThere).toEqual(problemsHere);
    // Duplicates (map-0 .. map-9 twice) and unknown namespaces, located at metadata.name / metadata.namespace, not line 1.
    expect(problemsThere.length).toBeGreaterThan(10);
    expect(problemsThere.find((problem) => problem.path === "metadata.namespace")).toMatchObject({ line: 7, column: 3 });
    expect(problemsThere.find((problem) => problem.path === "metadata.name")).toMatchObject({ line: 6, column: 3 });
  });

  it("validates an empty list and many lists at once", async () => {
    expect(await pool.validateFiles([])).toEqual([]);
    const files = sampleFiles();
    const [first, second] = await Promise.all([pool.validateFiles(files.slice(0, 120)), pool.validateFiles(files.slice(120))]);
    expect([...first, ...second].map((result) => result.objects.map((object) => object.name))).toEqual(
      files.map((file) => validateFile(file).objects.map((object) => object.name)),
    );
  });
});
