import type { NotificationDelivery } from "../notifications-api.ts";
import { Badge, Time } from "./layout.tsx";

/** How a delivery's state reads at a glance: delivered is good, failed for good is bad, anything still trying is busy. */
const stateTone = { delivered: "good", failed: "bad", pending: "busy" } as const;

/**
 * Webhook deliveries of the Notifiers (the outbox), newest first: what was
 * sent where, whether it arrived, and why not. The receiver's URL is never
 * shown (it may carry a token); the Notifier's name stands for it.
 */
export function NotificationsSection(props: { deliveries: NotificationDelivery[]; now: Date }) {
  return (
    <section id="notifications" data-live-region>
      <h2>Notifications</h2>
      {props.deliveries.length === 0 ? (
        <p class="muted">No notifications sent. A <code>kind: Notifier</code> manifest sends them.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>created</th>
              <th>notifier</th>
              <th>event</th>
              <th>about</th>
              <th>state</th>
              <th>attempts</th>
              <th>last error</th>
            </tr>
          </thead>
          <tbody>
            {props.deliveries.map((delivery) => (
              <tr data-delivery={delivery.idempotencyKey} data-state={delivery.state}>
                <td>
                  <Time at={delivery.createdAt} now={props.now} />
                </td>
                <td>{`${delivery.notifier.namespace}/${delivery.notifier.name}`}</td>
                <td>{delivery.type}</td>
                <td>
                  {describeObject(delivery.notification.object)} <span class="muted">{delivery.notification.message}</span>
                </td>
                <td>
                  <Badge tone={stateTone[delivery.state]}>{delivery.state}</Badge>
                  {delivery.state === "pending" && delivery.attempts > 0 ? (
                    <span class="muted">
                      {" "}
                      retry <Time at={delivery.nextAttemptAt} now={props.now} />
                    </span>
                  ) : null}
                </td>
                <td>{delivery.attempts}</td>
                <td>{delivery.lastError ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function describeObject(object: NotificationDelivery["notification"]["object"]): string {
  return object.namespace ? `${object.kind} ${object.namespace}/${object.name}` : `${object.kind} ${object.name}`;
}
