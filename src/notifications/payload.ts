import { createHmac, timingSafeEqual } from "node:crypto";
import type { NotifierSpec } from "../desired/index.ts";
import type { Notification } from "./facts.ts";

/**
 * What goes over the wire: the body in the Notifier's format, and the
 * headers, signed like Flux's generic-hmac provider (a hex HMAC-SHA256 of the
 * exact body bytes) but under capstan's own header name.
 */

export const signatureHeader = "X-Capstan-Signature";

export function renderBody(format: NotifierSpec["format"], notification: Notification): string {
  if (format === "json") {
    const { type, idempotencyKey, object, revision, message, reason, time } = notification;
    return JSON.stringify({ type, idempotencyKey, object, revision, message, reason, time });
  }
  return JSON.stringify(slackMessage(notification));
}

const slackEmoji: Record<Notification["type"], string> = {
  RolloutComplete: ":white_check_mark:",
  RolloutFailed: ":x:",
  CommitRejected: ":no_entry:",
  AutoRevertPushed: ":rewind:",
  NodeNotReady: ":warning:",
  CronJobRunFailed: ":x:",
};

/** An incoming-webhook message: `text` for notifications and clients without blocks, one section block for the rest. */
function slackMessage(notification: Notification): { text: string; blocks: unknown[] } {
  const { object } = notification;
  const where = object.namespace ? `${object.kind} ${object.namespace}/${object.name}` : `${object.kind} ${object.name}`;
  const commit = notification.revision ? ` (commit ${notification.revision.slice(0, 7)})` : "";
  const text = `${slackEmoji[notification.type]} ${notification.type}: ${where}${commit}: ${notification.message}`;
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${notification.type}* ${escapeMrkdwn(where)}${commit}\n${escapeMrkdwn(notification.message)}` } },
    ],
  };
}

// Slack treats &, < and > as control characters in mrkdwn.
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** `sha256=<hex>` of HMAC-SHA256(key, body). */
export function sign(key: Buffer, body: string): string {
  return `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
}

/** What a receiver does: recompute and compare in constant time. */
export function verifySignature(key: Buffer, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(key, body));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function requestHeaders(spec: NotifierSpec, notification: Notification, body: string, key: Buffer | undefined): Record<string, string> {
  return {
    ...spec.headers,
    "Content-Type": "application/json",
    "User-Agent": "capstan",
    "Idempotency-Key": notification.idempotencyKey,
    ...(key ? { [signatureHeader]: sign(key, body) } : {}),
  };
}

/** A webhook URL often carries its token (Slack's do): logs, events and the API show scheme and host only. */
export function redactNotifierUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return "(invalid URL)";
  }
}
