import type { ManifestProblem } from "../errors.ts";
import type { SourceFile } from "./types.ts";

/**
 * Turns a file's bytes into text, refusing what must never reach the YAML
 * parser: files over the size limit (checked on the byte count alone, so a
 * 50 MB blob costs nothing) and bytes that are not UTF-8 (YAML 1.2 streams
 * are Unicode; a silently replaced byte would change a value unseen).
 */
export function decodeSource(file: SourceFile, maxFileBytes: number): { text: string } | { problem: ManifestProblem } {
  const { content } = file;
  if (typeof content === "string") {
    // Each UTF-16 unit is at least one UTF-8 byte, so the cheap length settles most oversized strings.
    const byteLength = content.length > maxFileBytes ? content.length : Buffer.byteLength(content, "utf8");
    if (byteLength > maxFileBytes) return { problem: tooLarge(file.path, byteLength, maxFileBytes) };
    return { text: stripByteOrderMark(content) };
  }
  if (content.byteLength > maxFileBytes) return { problem: tooLarge(file.path, content.byteLength, maxFileBytes) };
  try {
    // TextDecoder drops a leading byte order mark, as YAML allows one.
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(content) };
  } catch {
    return { problem: notUtf8(file.path, content) };
  }
}

function stripByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function tooLarge(file: string, size: number, limit: number): ManifestProblem {
  return {
    file,
    line: 1,
    column: 1,
    path: "",
    message: `file is ${size} bytes, over the limit of ${limit} bytes: not parsed`,
    severity: "error",
  };
}

function notUtf8(file: string, bytes: Uint8Array): ManifestProblem {
  const offset = Math.max(firstInvalidUtf8Offset(bytes), 0);
  const lineStart = bytes.lastIndexOf(0x0a, offset - 1) + 1;
  let line = 1;
  for (let index = 0; index < lineStart; index++) if (bytes[index] === 0x0a) line++;
  // Columns count UTF-16 units, as the YAML parser's positions do; the bytes before the bad one are valid.
  const column = new TextDecoder("utf-8").decode(bytes.subarray(lineStart, offset)).replace(/^\uFEFF/, "").length + 1;
  const byte = bytes[offset]!.toString(16).padStart(2, "0");
  return {
    file,
    line,
    column,
    path: "",
    message: `invalid UTF-8 (byte 0x${byte} at offset ${offset}): manifests must be UTF-8 text`,
    severity: "error",
  };
}

/**
 * The offset of the first byte that does not begin a well-formed UTF-8
 * sequence (Unicode table 3-7: no overlongs, no surrogates, nothing above
 * U+10FFFF), or -1. Only run once the decoder has already refused the bytes.
 */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index]!;
    if (lead < 0x80) {
      index++;
      continue;
    }
    let continuationCount: number;
    let secondMin = 0x80;
    let secondMax = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) continuationCount = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      continuationCount = 2;
      if (lead === 0xe0) secondMin = 0xa0;
      if (lead === 0xed) secondMax = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      continuationCount = 3;
      if (lead === 0xf0) secondMin = 0x90;
      if (lead === 0xf4) secondMax = 0x8f;
    } else return index;
    for (let step = 1; step <= continuationCount; step++) {
      const next = bytes[index + step];
      const min = step === 1 ? secondMin : 0x80;
      const max = step === 1 ? secondMax : 0xbf;
      if (next === undefined || next < min || next > max) return index;
    }
    index += continuationCount + 1;
  }
  return -1;
}
