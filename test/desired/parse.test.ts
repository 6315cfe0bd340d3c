import { describe, expect, it } from "vitest";
import { formatFieldPath, locateField } from "../../src/desired/locate.ts";
import { parseSourceFile, type ParsedDocument } from "../../src/desired/parse.ts";

/** A file whose line N is `lines[N - 1]`, so that expected positions can be read off the test. */
function lines(...text: string[]): string {
  return `${text.join("\n")}\n`;
}

function parseOne(path: string, content: string | Uint8Array): ParsedDocument {
  const { documents, problems } = parseSourceFile({ path, content });
  expect(problems).toEqual([]);
  expect(documents).toHaveLength(1);
  return documents[0]!;
}

describe("parsing a manifest file", () => {
  it("returns each non-empty document of a multi-document file with where it starts", () => {
    const content = lines(
      "# leading comment",
      "---",
      "---",
      "# a document of comments only",
      "---",
      "kind: ConfigMap",
      "metadata: {name: a}",
      "---",
      "~",
      "---",
      "kind: Secret",
      "metadata: {name: b}",
      "...",
    );
    const { documents, problems } = parseSourceFile({ path: "config/two.yaml", content });
    expect(problems).toEqual([]);
    expect(documents.map((document) => [document.manifest, document.position])).toEqual([
      [{ kind: "ConfigMap", metadata: { name: "a" } }, { file: "config/two.yaml", line: 6, column: 1 }],
      [{ kind: "Secret", metadata: { name: "b" } }, { file: "config/two.yaml", line: 11, column: 1 }],
    ]);
  });

  it("reads JSON, which is YAML", () => {
    const document = parseOne("ns.json", '{\n  "kind": "Namespace",\n  "metadata": {"name": "shop"}\n}\n');
    expect(document.manifest).toEqual({ kind: "Namespace", metadata: { name: "shop" } });
    expect(document.position).toEqual({ file: "ns.json", line: 1, column: 1 });
  });

  it("decodes UTF-8 bytes, dropping a byte order mark", () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("greeting: grüß dich\n")]);
    expect(parseOne("greeting.yaml", bytes).manifest).toEqual({ greeting: "grüß dich" });
  });

  it("expands aliases and applies << merge keys, as Kubernetes manifests use them", () => {
    const document = parseOne(
      "merge.yaml",
      lines("defaults: &defaults {periodSeconds: 5, timeoutSeconds: 1}", "probe:", "  <<: *defaults", "  timeoutSeconds: 3"),
    );
    expect(document.manifest.probe).toEqual({ periodSeconds: 5, timeoutSeconds: 3 });
  });

  it("accepts several << merge keys in one mapping, but not another repeated key", () => {
    const merged = parseOne("merges.yaml", lines("a: &a {x: 1}", "b: &b {y: 2}", "c:", "  <<: *a", "  <<: *b"));
    expect(merged.manifest.c).toEqual({ x: 1, y: 2 });
    const { problems } = parseSourceFile({ path: "twice.yaml", content: lines("kind: ConfigMap", "data:", "  key: 1", "  key: 2") });
    expect(problems).toMatchObject([{ file: "twice.yaml", line: 4, message: expect.stringMatching(/unique/) }]);
  });

  it("reports a YAML syntax error at the parser's line and column", () => {
    const content = lines("kind: Deployment", "metadata:", "  name: web", "  labels:", "    app: @web");
    const { documents, problems } = parseSourceFile({ path: "web.yaml", content });
    expect(documents).toEqual([]);
    expect(problems).toEqual([
      {
        file: "web.yaml",
        line: 5,
        column: 10,
        path: "",
        message: "Plain value cannot start with reserved character @",
        severity: "error",
      },
    ]);
  });

  it("reports a tab used as indentation where it starts", () => {
    const { problems } = parseSourceFile({ path: "tabs.yaml", content: lines("kind: Pod", "metadata:", "  name: web", "\tlabels: {}") });
    expect(problems).toEqual([
      { file: "tabs.yaml", line: 4, column: 1, path: "", message: "Tabs are not allowed as indentation", severity: "error" },
    ]);
  });

  it("reports a duplicate key at the second occurrence", () => {
    const { problems } = parseSourceFile({ path: "dup.yaml", content: lines("kind: Pod", "metadata: {}", "kind: Service") });
    expect(problems).toEqual([
      { file: "dup.yaml", line: 3, column: 1, path: "", message: "Map keys must be unique", severity: "error" },
    ]);
  });

  it("refuses a document that is not a mapping, and keeps the good documents of the file", () => {
    const { documents, problems } = parseSourceFile({ path: "list.yaml", content: lines("kind: Pod", "---", "- kind: Pod") });
    expect(documents).toHaveLength(1);
    expect(problems).toEqual([
      {
        file: "list.yaml",
        line: 3,
        column: 1,
        path: "",
        message: "a manifest must be a mapping (apiVersion, kind, metadata, ...), not a sequence",
        severity: "error",
      },
    ]);
  });

  it("passes the yaml package's warnings on as warnings", () => {
    const { documents, problems } = parseSourceFile({ path: "tag.yaml", content: lines("kind: Pod", "note: !custom hello") });
    expect(documents[0]?.manifest).toEqual({ kind: "Pod", note: "hello" });
    expect(problems).toEqual([expect.objectContaining({ line: 2, column: 7, severity: "warning" })]);
  });
});

describe("a value that YAML reads as an alias, a tag or a bare document is not echoed", () => {
  // Unquoted, `*hunter2` is an alias and `!hunter2` a tag: the yaml package would quote the name in its message.
  it.each([
    ["an alias", lines("kind: Secret", "stringData:", "  password: *PLANTED-alias"), "error", /^Unresolved alias: no anchor of that name precedes it/],
    ["a tag", lines("kind: Secret", "stringData:", "  password: !PLANTED-tag rest"), "warning", /^Unresolved tag \(quote a value that starts with !\)$/],
    ["a scalar document", "PLANTED-document", "error", /not a scalar$/],
  ] as const)("%s", (_what, content, severity, message) => {
    const { problems } = parseSourceFile({ path: "secret.yaml", content });
    expect(problems).toEqual([expect.objectContaining({ severity, message: expect.stringMatching(message) })]);
    expect(JSON.stringify(problems)).not.toContain("PLANTED");
  });
});

describe("parsing hostile input", () => {
  function billionLaughs(): string {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level < 10; level++) {
      const previous = String.fromCharCode(96 + level);
      const anchor = String.fromCharCode(97 + level);
      levels.push(`${anchor}: &${anchor} [${Array(9).fill(`*${previous}`).join(", ")}]`);
    }
    return lines(...levels);
  }

  it("refuses a billion-laughs alias bomb at its first alias, quickly and without expanding it", () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const { documents, problems } = parseSourceFile({ path: "bomb.yaml", content: billionLaughs() });
    const elapsedMs = performance.now() - started;
    expect(documents).toEqual([]);
    expect(problems).toEqual([
      expect.objectContaining({ file: "bomb.yaml", line: 2, column: 8, severity: "error" }),
    ]);
    expect(problems[0]!.message).toMatch(/^aliases expand beyond the limit of 100/);
    // Generous sanity bounds: a billion strings would take minutes and gigabytes.
    expect(elapsedMs).toBeLessThan(2000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(100 * 1024 * 1024);
  });

  it("allows aliases within the bound, and the bound is configurable", () => {
    const content = lines("base: &base {a: 1}", "one: *base", "two: *base");
    expect(parseSourceFile({ path: "ok.yaml", content }).problems).toEqual([]);
    const { problems } = parseSourceFile({ path: "ok.yaml", content }, { maxAliasCount: 0 });
    expect(problems).toEqual([expect.objectContaining({ line: 2, column: 6 })]);
  });

  it("refuses a 50 MB document from its size alone, without decoding or parsing it", () => {
    const content = new Uint8Array(50 * 1024 * 1024).fill(0x5b); // "[" * 50M: ruinous if it were parsed
    const started = performance.now();
    const { documents, problems } = parseSourceFile({ path: "huge.yaml", content });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(documents).toEqual([]);
    expect(problems).toEqual([
      {
        file: "huge.yaml",
        line: 1,
        column: 1,
        path: "",
        message: "file is 52428800 bytes, over the limit of 4194304 bytes: not parsed",
        severity: "error",
      },
    ]);
  });

  it("measures a string's size in UTF-8 bytes against a configurable limit", () => {
    expect(parseSourceFile({ path: "a.yaml", content: "k: ééé\n" }, { maxFileBytes: 10 }).problems).toEqual([]);
    expect(parseSourceFile({ path: "a.yaml", content: "k: éééé\n" }, { maxFileBytes: 10 }).problems[0]?.message).toBe(
      "file is 12 bytes, over the limit of 10 bytes: not parsed",
    );
  });

  it.each([
    // The 101st collection: the mapping holding `spec` plus the 100th bracket.
    ["flow sequences", `spec: ${"[".repeat(10_000)}${"]".repeat(10_000)}`, 1, 106],
    ["block sequences", `spec:\n  ${"- ".repeat(10_000)}x`, 2, 201],
    ["flow mappings", `${"{a: ".repeat(10_000)}1${"}".repeat(10_000)}`, 1, 401],
  ])("refuses %s nested 10,000 levels deep with a located error, not a stack overflow", (_style, content, line, column) => {
    const { documents, problems } = parseSourceFile({ path: "deep.yaml", content });
    expect(documents).toEqual([]);
    expect(problems).toEqual([
      {
        file: "deep.yaml",
        line,
        column,
        path: "",
        message: "collections nested more than 100 levels deep: not parsed",
        severity: "error",
      },
    ]);
  });

  it("accepts nesting up to the depth limit", () => {
    const content = `spec: ${"[".repeat(99)}${"]".repeat(99)}`;
    expect(parseSourceFile({ path: "deep.yaml", content }).problems).toEqual([]);
    expect(parseSourceFile({ path: "deep.yaml", content }, { maxDepth: 99 }).problems).toHaveLength(1);
  });

  it("refuses a file with more documents than the limit", () => {
    const content = "kind: Pod\n---\n".repeat(1001);
    const { documents, problems } = parseSourceFile({ path: "many.yaml", content });
    expect(documents).toEqual([]);
    expect(problems).toEqual([
      { file: "many.yaml", line: 2000, column: 1, path: "", message: "more than 1000 documents in one file", severity: "error" },
    ]);
    expect(parseSourceFile({ path: "many.yaml", content }, { maxDocuments: 2000 }).documents).toHaveLength(1001);
  });

  it("refuses bytes that are not UTF-8, at the line and column of the first bad byte", () => {
    const content = new Uint8Array([...new TextEncoder().encode("kind: Pod\nname: café-"), 0xe9, 0x0a]); // Latin-1 "é"
    const { documents, problems } = parseSourceFile({ path: "latin1.yaml", content });
    expect(documents).toEqual([]);
    expect(problems).toEqual([
      {
        file: "latin1.yaml",
        line: 2,
        column: 12,
        path: "",
        message: "invalid UTF-8 (byte 0xe9 at offset 22): manifests must be UTF-8 text",
        severity: "error",
      },
    ]);
  });

  it.each([
    ["an overlong encoding", [0xc0, 0xaf]],
    ["a UTF-16 surrogate", [0xed, 0xa0, 0x80]],
    ["a truncated sequence", [0xe2, 0x82]],
  ])("refuses %s", (_what, bad) => {
    const content = new Uint8Array([0x6b, 0x3a, 0x20, ...bad]);
    expect(parseSourceFile({ path: "bad.yaml", content }).problems).toEqual([
      expect.objectContaining({ line: 1, column: 4, message: expect.stringMatching(/^invalid UTF-8/) }),
    ]);
  });
});

describe("locating a field path", () => {
  const deployment = parseOne(
    "web.yaml",
    lines(
      "apiVersion: apps/v1",
      "kind: Deployment",
      "metadata:",
      "  name: web",
      "  labels: {app.kubernetes.io/name: web}",
      "spec:",
      "  template:",
      "    spec:",
      "      containers:",
      "        - name: web",
      "          ports:",
      "            - containerPort: 8080",
      "            - name: metrics",
      "              containerPort: nine",
    ),
  );

  it("points at the key of a field that exists", () => {
    const path = ["spec", "template", "spec", "containers", 0, "ports", 1, "containerPort"];
    expect(locateField(deployment, path)).toEqual({ line: 14, column: 15 });
  });

  it("points at a sequence item by its start", () => {
    expect(locateField(deployment, ["spec", "template", "spec", "containers", 0, "ports", 1])).toEqual({ line: 13, column: 15 });
  });

  it("points at the key of the mapping that lacks a missing field", () => {
    expect(locateField(deployment, ["spec", "selector"])).toEqual({ line: 6, column: 1 });
    expect(locateField(deployment, ["spec", "template", "spec", "containers", 0, "ports", 0, "name"])).toEqual({ line: 12, column: 15 });
  });

  it("points at the document's start when the document itself lacks the field", () => {
    expect(locateField(deployment, ["status"])).toEqual({ line: 1, column: 1 });
  });

  it("finds keys inside flow mappings", () => {
    expect(locateField(deployment, ["metadata", "labels", "app.kubernetes.io/name"])).toEqual({ line: 5, column: 12 });
  });

  it("follows an alias to its anchor", () => {
    const document = parseOne("alias.yaml", lines("base: &base", "  port: 80", "copy: *base"));
    expect(locateField(document, ["copy", "port"])).toEqual({ line: 2, column: 3 });
  });

  it("formats paths as Kubernetes does, quoting keys that are not plain words", () => {
    expect(formatFieldPath(["spec", "template", "spec", "containers", 0, "ports", 1, "containerPort"])).toBe(
      "spec.template.spec.containers[0].ports[1].containerPort",
    );
    expect(formatFieldPath(["metadata", "labels", "app.kubernetes.io/name"])).toBe('metadata.labels["app.kubernetes.io/name"]');
    expect(formatFieldPath(["data", "LOG_DIR"])).toBe("data.LOG_DIR");
    expect(formatFieldPath([])).toBe("");
  });
});
