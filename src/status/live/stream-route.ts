import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { NotFoundError } from "../../errors.ts";
import type { LiveUpdates } from "./live-updates.ts";

/** EventSource waits this long before reconnecting, e.g. after a server restart. */
export const retryMs = 1000;

/**
 * GET /api/events/stream: `retry: 1000`, then `event: change` with
 * `{"channel": …, "count": …}` per channel and coalescing window, and a
 * `: heartbeat` comment between. The browser re-reads what it shows; the
 * stream carries no data of its own, so it needs no authorisation.
 */
export function liveRoutes(live: LiveUpdates | undefined): Hono {
  const api = new Hono();
  api.get("/events/stream", (c) => {
    if (!live) throw new NotFoundError("live updates are not available on this server");
    return streamSSE(c, async (stream) => {
      await stream.write(`retry: ${retryMs}\n\n`);
      await new Promise<void>((finished) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          unsubscribe();
          finished();
        };
        // Writes are not awaited: a slow reader must not hold up the others; a failed write means the client left.
        const send = (text: string) => void stream.write(text).catch(finish);
        const unsubscribe = live.subscribe({
          change: (messages) => {
            for (const message of messages) send(`event: change\ndata: ${JSON.stringify(message)}\n\n`);
          },
          heartbeat: () => send(": heartbeat\n\n"),
          end: finish,
        });
        stream.onAbort(finish);
      });
    });
  });
  return api;
}
