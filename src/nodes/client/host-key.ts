/**
 * SSH host keys as OpenSSH shows them: the public key blob, its
 * "type base64" line and its "SHA256:…" fingerprint, so what the control
 * plane pins and reports matches `ssh-keygen -lf` and known_hosts.
 */
import { createHash } from "node:crypto";
import type { ServerHostKeyAlgorithm } from "ssh2";
import { ConfigError } from "../../errors.ts";
import type { HostKeyInfo } from "./transport.ts";

export interface PinnedHostKey {
  type: string;
  blob: Buffer;
  fingerprint: string;
}

/** Accepts "type base64 [comment]" and known_hosts lines ("host type base64"). */
export function parsePinnedHostKey(node: string, line: string): PinnedHostKey {
  const words = line.trim().split(/\s+/);
  for (let index = 0; index + 1 < words.length; index++) {
    const type = words[index]!;
    const blob = Buffer.from(words[index + 1]!, "base64");
    if (blob.length > 4 && keyTypeOf(blob) === type) return { type, blob, fingerprint: fingerprintOf(blob) };
  }
  throw new ConfigError(`node ${node}: the pinned host key is not an OpenSSH public key line ("ssh-ed25519 AAAA…")`);
}

/** The key type an SSH public key blob starts with (a length-prefixed string). */
function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined;
  return blob.subarray(4, 4 + length).toString("latin1");
}

/** "SHA256:" and the unpadded base64 of the blob's SHA-256, as OpenSSH prints it. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

export function describeHostKey(blob: Buffer, trustedOnFirstUse: boolean): HostKeyInfo {
  return { fingerprint: fingerprintOf(blob), line: `${keyTypeOf(blob) ?? "unknown"} ${blob.toString("base64")}`, trustedOnFirstUse };
}

export function hostKeyAlgorithmsFor(keyType: string): ServerHostKeyAlgorithm[] {
  // An RSA key signs with any of these; the blob's type stays "ssh-rsa".
  if (keyType === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return [keyType as ServerHostKeyAlgorithm];
}
