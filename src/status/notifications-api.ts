import { Hono } from "hono";
import { z } from "zod";
import { NotFoundError } from "../errors.ts";
import { parseQuery } from "./request-input.ts";
import { deliverySchema, deliveryStates, type PgNotificationOutbox } from "../notifications/index.ts";

/**
 * Notification deliveries (kind: Notifier) for the API and the page: each
 * with its state, attempts and last error. Neither the receiver's URL (it may
 * hold a token) nor any signing key is stored with a delivery, so none can
 * show here.
 */

export const notificationDeliverySchema = deliverySchema;
export type NotificationDelivery = z.infer<typeof notificationDeliverySchema>;

export const notificationListSchema = z.object({
  items: z.array(notificationDeliverySchema),
  /** Pass as `before` to get the next (older) page; null on the last page. */
  next: z.number().int().nullable(),
});
export type NotificationList = z.infer<typeof notificationListSchema>;

export const notificationQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(1).optional(),
  state: z.enum(deliveryStates).optional(),
});
export type NotificationQuery = z.input<typeof notificationQuerySchema>;

/** Where deliveries are read from: the outbox (PgNotificationOutbox). */
export type NotificationSource = Pick<PgNotificationOutbox, "list">;

/** Newest deliveries first, one page: what `GET /api/notifications` answers and the page's section shows. */
export async function recentNotifications(source: NotificationSource, query: NotificationQuery = {}): Promise<NotificationList> {
  const { limit, before, state } = notificationQuerySchema.parse(query);
  const items = await source.list({ limit: limit + 1, before, state });
  const page = items.slice(0, limit);
  return notificationListSchema.parse({ items: page, next: items.length > limit ? page.at(-1)!.id : null });
}

export function notificationRoutes(source: NotificationSource | undefined): Hono {
  const api = new Hono();
  api.get("/notifications", async (c) => {
    if (!source) throw new NotFoundError("notifications are not available on this server");
    return c.json(await recentNotifications(source, parseQuery(notificationQuerySchema, c.req.query())));
  });
  return api;
}
