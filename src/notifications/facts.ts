import { z } from "zod";
import { notificationEventTypes, notifierSpecSchema, type NotificationEventType, type NotifierSpec } from "../desired/index.ts";

/**
 * Which stored facts are news for a Notifier, as pure functions: the
 * dispatcher reads event and revision rows, these decide. Like Flux's
 * notification-controller forwarding Kubernetes events, notifications are
 * derived from what the controllers already record, so reconciliation never
 * waits on a webhook.
 */

/** The format-neutral notification stored in the outbox; `payload.ts` renders it as json or slack. */
export const notificationSchema = z.object({
  type: z.enum(notificationEventTypes),
  idempotencyKey: z.string(),
  object: z.object({ kind: z.string(), namespace: z.string(), name: z.string() }),
  /** The commit it concerns, when one does (the rollout's, the rejected one, the revert pushed). */
  revision: z.string().nullable(),
  message: z.string(),
  /** The reason of the event it came from (RolloutFailed, AutoReverted, ...), or CommitRejected. */
  reason: z.string(),
  time: z.string(),
});
export type Notification = z.infer<typeof notificationSchema>;

/** Event rows as the dispatcher reads them, with the commit their rollout concerns. */
export interface EventFact {
  id: number;
  kind: string;
  namespace: string;
  name: string;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  count: number;
  firstTime: Date;
  lastTime: Date;
  revision: string | null;
}

export interface RejectedRevisionFact {
  sha: string;
  errors: { file: string; line: number; message: string }[];
  seenAt: Date;
}

/**
 * Event reason (and kind/type where the reason alone is ambiguous) → the
 * notification type. These are the reasons recorded by rollout-tracker.ts,
 * gitsync/rollback.ts (AutoReverted), node-status-writer.ts (NodeNotReady)
 * and cronjob-plan.ts (SawCompletedJob, Warning when the run failed).
 */
export function notificationTypeOf(event: Pick<EventFact, "kind" | "type" | "reason">): NotificationEventType | undefined {
  switch (event.reason) {
    case "RolloutComplete":
    case "RolloutFailed":
      return event.reason;
    case "AutoReverted":
      return "AutoRevertPushed";
    case "NodeNotReady":
      return event.kind === "Node" ? "NodeNotReady" : undefined;
    case "SawCompletedJob":
      return event.kind === "CronJob" && event.type === "Warning" ? "CronJobRunFailed" : undefined;
    default:
      return undefined;
  }
}

/** The reasons worth reading at all, so the dispatcher's query skips the rest. */
export const notifiableReasons = ["RolloutComplete", "RolloutFailed", "AutoReverted", "NodeNotReady", "SawCompletedJob"];

export function notificationFromEvent(event: EventFact): Notification | undefined {
  const type = notificationTypeOf(event);
  if (!type) return undefined;
  return {
    type,
    // A repeat folds into the same row with a higher count, and after a quiet hour restarts at
    // count 1 with a new first time: the three together name one occurrence.
    idempotencyKey: `event-${event.id}-${Math.floor(event.firstTime.getTime() / 1000)}-${event.count}`,
    object: { kind: event.kind, namespace: event.namespace, name: event.name },
    revision: event.revision,
    message: event.message,
    reason: event.reason,
    time: event.lastTime.toISOString(),
  };
}

export function notificationFromRejectedRevision(revision: RejectedRevisionFact): Notification {
  const [first] = revision.errors;
  const more = revision.errors.length > 1 ? ` (and ${revision.errors.length - 1} more)` : "";
  const why = first ? `: ${first.file}:${first.line}: ${first.message}${more}` : "";
  return {
    type: "CommitRejected",
    idempotencyKey: `commit-rejected-${revision.sha}`,
    object: { kind: "Revision", namespace: "", name: revision.sha },
    revision: revision.sha,
    message: `Commit ${revision.sha.slice(0, 7)} rejected${why}`,
    reason: "CommitRejected",
    time: revision.seenAt.toISOString(),
  };
}

export interface NotifierRef {
  namespace: string;
  name: string;
  spec: NotifierSpec;
}

/** Stored Notifier objects whose spec still parses (a spec from an older capstan that no longer does is skipped). */
export function notifierFromObject(object: { namespace: string; name: string; spec: unknown }): NotifierRef | undefined {
  const spec = notifierSpecSchema.safeParse(object.spec);
  return spec.success ? { namespace: object.namespace, name: object.name, spec: spec.data } : undefined;
}

/**
 * Whether a Notifier asks for a notification: its type listed (or no list),
 * its namespace listed (or no list; cluster-wide facts such as nodes and
 * commits have none and always pass), and the Notifier not suspended.
 */
export function wants(notifier: NotifierSpec, notification: Notification): boolean {
  if (notifier.suspend) return false;
  if (notifier.events.length > 0 && !notifier.events.includes(notification.type)) return false;
  const namespace = notification.object.namespace;
  if (namespace !== "" && notifier.namespaces && !notifier.namespaces.includes(namespace)) return false;
  return true;
}
