import { z } from "zod";
import { CORE_V1, defineKind, keyedRecord } from "./meta.ts";
import { configKeySchema, dns1123Label, dns1123Subdomain, stringValueSchema } from "./names.ts";

/**
 * A Notifier: an outgoing webhook, declared in Git like everything else
 * (Flux's Provider + Alert in one object). capstan posts to `url` each fact
 * of the listed `events` types, signed with the key a Secret holds.
 */

/** The facts a Notifier can ask for; each is derived from stored events or revisions (src/notifications/facts.ts). */
export const notificationEventTypes = [
  "RolloutComplete",
  "RolloutFailed",
  "CommitRejected",
  "AutoRevertPushed",
  "NodeNotReady",
  "CronJobRunFailed",
] as const;
export type NotificationEventType = (typeof notificationEventTypes)[number];

// capstan sets these itself; a manifest overriding them would break signing or idempotency.
const reservedHeaders = ["content-type", "content-length", "host", "user-agent", "idempotency-key", "x-capstan-signature"];
// Headers live in Git in plain text: credentials belong in the Secret (the HMAC key) or the receiver's URL.
const credentialHeaders = ["authorization", "proxy-authorization", "cookie"];
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const headerNameSchema = z.string().superRefine((name, ctx) => {
  const lower = name.toLowerCase();
  if (!headerNamePattern.test(name)) ctx.addIssue({ code: "custom", message: "must be an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)" });
  else if (reservedHeaders.includes(lower)) ctx.addIssue({ code: "custom", message: `${name} is set by capstan and cannot be overridden` });
  else if (credentialHeaders.includes(lower)) {
    ctx.addIssue({ code: "custom", message: `${name} would keep a credential in Git in plain text: sign with spec.secretRef instead` });
  }
});

export const notifierUrlSchema = z.string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") }).superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be an absolute http:// or https:// URL" });
    return;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `must be an http:// or https:// URL, not ${url.protocol}` });
  }
});

const eventTypeSchema = z.enum(notificationEventTypes, {
  error: (issue) => `unknown event ${JSON.stringify(issue.input)}: use one of ${notificationEventTypes.join(", ")}`,
});

export const notifierSpecSchema = z.strictObject({
  url: notifierUrlSchema,
  /** Empty or absent: every type. */
  events: z.array(eventTypeSchema).default([]),
  /** Facts about objects in these namespaces only; cluster-wide facts (nodes, commits) always pass. Absent: all. */
  namespaces: z.array(dns1123Label()).optional(),
  format: z.enum(["json", "slack"], { error: 'must be "json" or "slack"' }).default("json"),
  /** A Secret in the Notifier's namespace whose `key` holds the HMAC-SHA256 key for X-Capstan-Signature. */
  secretRef: z.strictObject({ name: dns1123Subdomain(), key: configKeySchema }).optional(),
  headers: keyedRecord(headerNameSchema, stringValueSchema).default({}),
  suspend: z.boolean().default(false),
});
export type NotifierSpec = z.infer<typeof notifierSpecSchema>;

export const notifierKind = defineKind({
  kind: "Notifier",
  apiVersions: ["capstan.dev/v1"],
  namespaced: true,
  fields: { spec: notifierSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type Notifier = z.infer<typeof notifierKind.schema>;
