import {
  Composer,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  Parser,
  visit,
  type CST,
  type Document,
  type ParsedNode,
} from "yaml";
import { messageOf, type ManifestProblem } from "../errors.ts";
import { decodeSource } from "./decode.ts";
import type { SourceFile, SourcePosition } from "./types.ts";

/**
 * Multi-document YAML (and JSON, which is YAML) with source positions. Every
 * bound is checked before the work it protects: size before decoding, depth
 * and document count while the token stream is read (before any tree is
 * built), aliases while the tree becomes plain data.
 */

export interface ParseLimits {
  /** Larger files are refused before they are decoded or parsed. */
  maxFileBytes: number;
  maxDocuments: number;
  /**
   * The yaml package's bound on alias expansion (per anchor: uses times the
   * nodes it holds), so a billion-laughs document fails fast and small.
   */
  maxAliasCount: number;
  /** Collections nested deeper than this are refused: deep trees overflow the stack of every later step. */
  maxDepth: number;
}

export const defaultParseLimits: Readonly<ParseLimits> = {
  maxFileBytes: 4 * 1024 * 1024,
  maxDocuments: 1000,
  maxAliasCount: 100,
  maxDepth: 100,
};

/** One non-empty document of a file: its syntax tree (to locate any field) and its plain data. */
export interface ParsedDocument {
  file: string;
  document: Document.Parsed;
  /** Shared by the documents of one file; turns the tree's offsets into line and column. */
  lineCounter: LineCounter;
  /** The document as plain data: aliases expanded within the limit, `<<` merge keys applied. */
  manifest: Record<string, unknown>;
  /** Where the document's mapping starts. */
  position: SourcePosition;
}

export interface ParseResult {
  documents: ParsedDocument[];
  problems: ManifestProblem[];
}

export function parseSourceFile(file: SourceFile, limits: Partial<ParseLimits> = {}): ParseResult {
  const limit: ParseLimits = { ...defaultParseLimits, ...limits };
  const decoded = decodeSource(file, limit.maxFileBytes);
  if ("problem" in decoded) return { documents: [], problems: [decoded.problem] };

  const lineCounter = new LineCounter();
  const problemAt = (offset: number, message: string, severity: ManifestProblem["severity"] = "error"): ManifestProblem => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: file.path, line, column: col, path: "", message, severity };
  };

  const read = readTokens(decoded.text, lineCounter, limit);
  if ("refusal" in read) return { documents: [], problems: [problemAt(read.refusal.offset, read.refusal.message)] };

  const documents: ParsedDocument[] = [];
  const problems: ManifestProblem[] = [];
  // Kubernetes manifests often share blocks through `<<: *anchor`, so merge keys are honoured. Duplicate
  // keys are found by duplicateKeyOffsets: the yaml package's own check compares each key with every
  // earlier one, and a 1.6 MB map of 150,000 keys then held the thread for minutes.
  const composer = new Composer({ merge: true, prettyErrors: false, uniqueKeys: false });
  for (const document of composer.compose(read.tokens, true, decoded.text.length)) {
    for (const warning of document.warnings) problems.push(problemAt(warning.pos[0], yamlMessage(warning.message), "warning"));
    const errors = [
      ...document.errors.map((error) => ({ offset: error.pos[0], message: yamlMessage(error.message) })),
      ...duplicateKeyOffsets(document).map((offset) => ({ offset, message: "Map keys must be unique" })),
    ].sort((a, b) => a.offset - b.offset);
    if (errors.length > 0) {
      for (const error of errors) problems.push(problemAt(error.offset, error.message));
      continue;
    }
    const contents = document.contents;
    // `---` alone, comments only and an explicit `~` are empty documents, skipped as kubectl does.
    if (contents === null || (isScalar(contents) && contents.value === null)) continue;
    const start = contents.range[0];
    if (!isMap(contents)) {
      problems.push(problemAt(start, `a manifest must be a mapping (apiVersion, kind, metadata, ...), not ${describeNode(contents)}`));
      continue;
    }
    const expanded = toPlainData(document, limit.maxAliasCount);
    if ("refusal" in expanded) {
      problems.push(problemAt(expanded.refusal.offset ?? start, expanded.refusal.message));
      continue;
    }
    const { line, col } = lineCounter.linePos(start);
    documents.push({
      file: file.path,
      document,
      lineCounter,
      manifest: expanded.manifest,
      position: { file: file.path, line, column: col },
    });
  }
  return { documents, problems };
}

interface Refusal {
  offset: number;
  message: string;
}

/**
 * Runs the lexer and the CST parser by hand (what `parseAllDocuments` does
 * inside) so that nesting depth and document count are checked as the stream
 * is read: the composer and everything after it recurse per level, and a
 * 4 MiB file of `[` is two million levels.
 */
function readTokens(text: string, lineCounter: LineCounter, limit: ParseLimits): { tokens: CST.Token[] } | { refusal: Refusal } {
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0);
  const tokens: CST.Token[] = [];
  let documentCount = 0;
  const take = (token: CST.Token): Refusal | undefined => {
    tokens.push(token);
    if (token.type === "document" && ++documentCount > limit.maxDocuments) {
      return { offset: token.offset, message: `more than ${limit.maxDocuments} documents in one file` };
    }
    return undefined;
  };
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) {
      const refusal = take(token);
      if (refusal) return { refusal };
    }
    // The stack holds at least every open collection, so its length is a free first test.
    const tooDeep = parser.stack.length > limit.maxDepth ? collectionBeyondDepth(parser.stack, limit.maxDepth) : undefined;
    if (tooDeep) {
      return {
        refusal: { offset: tooDeep.offset, message: `collections nested more than ${limit.maxDepth} levels deep: not parsed` },
      };
    }
  }
  for (const token of parser.end()) {
    const refusal = take(token);
    if (refusal) return { refusal };
  }
  return { tokens };
}

/** The first collection on the parser's stack that lies deeper than `maxDepth`, if any. */
function collectionBeyondDepth(stack: readonly CST.Token[], maxDepth: number): CST.Token | undefined {
  let depth = 0;
  for (const token of stack) {
    if (token.type === "block-map" || token.type === "block-seq" || token.type === "flow-collection") {
      if (++depth > maxDepth) return token;
    }
  }
  return undefined;
}

/**
 * Where a mapping repeats a key, in one pass per mapping: scalar keys are
 * equal when their values are (as the yaml package judges them), any other
 * key only to itself. `<<` merge keys may repeat (`<<: *a` then `<<: *b`),
 * as the yaml package's own check allows with merging on.
 */
function duplicateKeyOffsets(document: Document.Parsed): number[] {
  const offsets: number[] = [];
  visit(document, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (key === "<<") continue;
        if (seen.has(key)) offsets.push((pair.key as ParsedNode | null)?.range?.[0] ?? map.range?.[0] ?? 0);
        else seen.add(key);
      }
    },
  });
  return offsets;
}

function toPlainData(
  document: Document.Parsed,
  maxAliasCount: number,
): { manifest: Record<string, unknown> } | { refusal: { offset: number | undefined; message: string } } {
  try {
    // The caller checked that the contents are a mapping, and a mapping becomes a plain object.
    return { manifest: document.toJS({ maxAliasCount }) as Record<string, unknown> };
  } catch (error) {
    // The yaml package throws without a position; the first alias is where expansion starts.
    let aliasOffset: number | undefined;
    visit(document, {
      Alias(_key, alias) {
        aliasOffset = alias.range?.[0];
        return visit.BREAK;
      },
    });
    const reason = messageOf(error);
    if (reason.startsWith("Unresolved alias")) return { refusal: { offset: aliasOffset, message: yamlMessage(reason) } };
    return {
      refusal: {
        offset: aliasOffset,
        message: `aliases expand beyond the limit of ${maxAliasCount} (${reason}): not parsed`,
      },
    };
  }
}

/**
 * The yaml package's message, without the names it quotes from the source.
 * An unquoted value that starts with `*` or `!` reads as an alias or a tag,
 * and a password such as `*hunter2` would then be echoed into an error that
 * is stored, logged and shown; the position already says where it is.
 */
export function yamlMessage(message: string): string {
  if (message.startsWith("Unresolved alias")) {
    return "Unresolved alias: no anchor of that name precedes it (quote a value that starts with *)";
  }
  if (message.startsWith("Unresolved tag")) return "Unresolved tag (quote a value that starts with !)";
  return message;
}

// Never the scalar's text: the document may be a Secret's value.
function describeNode(node: ParsedNode): string {
  if (isSeq(node)) return "a sequence";
  if (isAlias(node)) return "an alias";
  if (isScalar(node)) return "a scalar";
  return "this node";
}
