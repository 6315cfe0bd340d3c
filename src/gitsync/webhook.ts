/**
 * The push webhook: GitHub, Gitea (and Gogs/Forgejo) and GitLab tell us the
 * branch moved, so we fetch now instead of at the next poll. The body is only
 * a hint: what gets applied is always what the fetch finds on the branch.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { Context, Handler } from "hono";
import { z } from "zod";
import { BadRequestError, ConfigError } from "../errors.ts";

export const WEBHOOK_PATH = "/hooks/git";
export const DEFAULT_WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;

/** Fetch `Headers`, or Node's plain header object. */
export type HeaderSource =
  | { get(name: string): string | null | undefined }
  | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === "function") {
    return (headers as { get(name: string): string | null | undefined }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name.toLowerCase()] ?? record[name];
  return Array.isArray(value) ? value[0] : value;
}

const hexDigest = /^[0-9a-f]{64}$/i;

function hmacMatches(secret: string, body: Uint8Array, providedHex: string): boolean {
  if (!hexDigest.test(providedHex)) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(providedHex, "hex"));
}

/**
 * Whether the request carries a valid signature for `secret`. The first header
 * present decides, strongest first: GitHub's `X-Hub-Signature-256`
 * (`sha256=<hex>` HMAC of the body; Gitea sends it too), Gitea's
 * `X-Gitea-Signature` / Gogs' `X-Gogs-Signature` (bare hex HMAC), GitLab's
 * `X-Gitlab-Token` (the secret itself). Comparisons are constant-time; an
 * empty secret verifies nothing.
 */
export function verifyWebhookSignature(secret: string, body: Uint8Array, headers: HeaderSource): boolean {
  if (!secret) return false;
  const github = header(headers, "x-hub-signature-256");
  if (github !== undefined) return github.startsWith("sha256=") && hmacMatches(secret, body, github.slice(7));
  const gitea = header(headers, "x-gitea-signature") ?? header(headers, "x-gogs-signature");
  if (gitea !== undefined) return hmacMatches(secret, body, gitea.trim());
  const gitlab = header(headers, "x-gitlab-token");
  if (gitlab !== undefined) {
    // Hashing both sides gives equal lengths, so not even the secret's length leaks.
    const digest = (value: string) => createHash("sha256").update(value).digest();
    return timingSafeEqual(digest(gitlab), digest(secret));
  }
  return false;
}

/** Only which ref moved and where to: the rest of a push payload is ignored. */
const pushEventSchema = z.object({
  ref: z.string().min(1).optional(),
  after: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, "a commit sha").optional(),
});

export type PushEvent = z.infer<typeof pushEventSchema>;

/**
 * Parses a push payload: JSON, or GitHub's form encoding (`payload=<json>`).
 * Malformed input is a BadRequestError naming what was wrong.
 */
export function parsePushEvent(body: Uint8Array | string, contentType = "application/json"): PushEvent {
  let text = typeof body === "string" ? body : new TextDecoder().decode(body);
  if (contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    const payload = new URLSearchParams(text).get("payload");
    if (payload === null) throw new BadRequestError("webhook form body has no payload field");
    text = payload;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BadRequestError("webhook body is not valid JSON");
  }
  const parsed = pushEventSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new BadRequestError(`webhook body: ${where}${issue.message}`);
  }
  return parsed.data;
}

export interface WebhookRouteOptions {
  secret: string;
  /** The branch being synced; pushes to other refs are acknowledged and ignored. */
  branch: string;
  maxBodyBytes?: number;
  onPush: (event: PushEvent) => void;
}

/**
 * The hono handler for `POST /hooks/git`:
 * 413 body over the bound, 401 missing or bad signature, 400 malformed body,
 * 202 and `onPush` for this branch (or a payload naming no ref, such as a ping),
 * 200 for other refs.
 */
export function webhookRoute(options: WebhookRouteOptions): Handler {
  if (!options.secret) throw new ConfigError("a webhook secret is required");
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_WEBHOOK_MAX_BODY_BYTES;
  const branchRefs = new Set([`refs/heads/${options.branch}`, options.branch]);

  return async (c: Context) => {
    const body = await readBounded(c.req.raw, maxBodyBytes);
    if (body === "too-large") return c.json({ error: `body over ${maxBodyBytes} bytes` }, 413);
    if (!verifyWebhookSignature(options.secret, body, c.req.raw.headers)) {
      return c.json({ error: "missing or invalid webhook signature" }, 401);
    }
    let event: PushEvent;
    try {
      event = parsePushEvent(body, c.req.header("content-type") ?? "application/json");
    } catch (error) {
      if (error instanceof BadRequestError) return c.json({ error: error.message }, 400);
      throw error;
    }
    if (event.ref !== undefined && !branchRefs.has(event.ref)) {
      return c.json({ ignored: `push to ${event.ref}, not ${options.branch}` }, 200);
    }
    options.onPush(event);
    return c.json({ accepted: true }, 202);
  };
}

/**
 * Reads the body up to `limit` bytes and stops there: an oversized body is
 * refused from its Content-Length, or as soon as the stream passes the bound,
 * without holding more than `limit` bytes.
 */
async function readBounded(request: Request, limit: number): Promise<Uint8Array | "too-large"> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await request.body?.cancel().catch(() => undefined);
    return "too-large";
  }
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return "too-large";
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
