import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { messageOf } from "../../errors.ts";
import type { AgentConnection } from "./connection.ts";

export interface HeartbeatOptions {
  clock: Clock;
  log: Logger;
  /** The node's name, for the log. */
  node: string;
  /** How often the agent is pinged (default 2.5 s). */
  intervalMs?: number;
  /** Pings in a row without an answer before the link is taken down (default 3). */
  missedHeartbeats?: number;
  /** Each answered ping, with its answer. */
  onAnswer(result: unknown): void;
}

/**
 * A ping every heartbeat interval, each allowed one interval to answer. A
 * link that carries no answer for `missedHeartbeats` pings in a row (≈ 10 s
 * with the defaults, like the kubelet's node-monitor grace) is taken down
 * and redialled; a dropped connection is noticed at once, without waiting.
 * Resolves once the connection is closed (by either side) or `signal` aborts.
 */
export async function heartbeat(connection: AgentConnection, options: HeartbeatOptions, signal: AbortSignal): Promise<void> {
  const interval = options.intervalMs ?? 2_500;
  const allowedMisses = options.missedHeartbeats ?? 3;
  const wakeOnClose = new AbortController();
  void connection.closed.then(() => wakeOnClose.abort());
  const both = AbortSignal.any([signal, wakeOnClose.signal]);
  let missed = 0;
  while (!both.aborted) {
    if (missed === 0) await options.clock.sleep(interval, both);
    if (both.aborted) break;
    try {
      const result = await connection.request("ping", {}, { timeoutMs: interval });
      missed = 0;
      options.onAnswer(result);
    } catch (error) {
      if (connection.isClosed) break;
      missed += 1;
      if (missed < allowedMisses) continue;
      options.log.warn({ node: options.node, missed, err: messageOf(error) }, "node missed its heartbeats; reconnecting");
      connection.close();
      break;
    }
  }
}
