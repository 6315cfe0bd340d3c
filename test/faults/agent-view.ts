import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { PROTOCOL_VERSION, podStatusSchema, type PodStatus } from "../../src/nodes/protocol.ts";

/**
 * A node's own view of its pods: a connection of the test's own to a real
 * agent's socket, asking `statuses` as the control plane does. It answers
 * whether a control plane is connected or not, so it is the ground truth
 * while one is dead: the agent keeps its pods running and probing.
 */
export interface AgentView {
  /** The pods the agent runs now, with their readiness as its probes see it. */
  statuses(timeoutMs?: number): Promise<PodStatus[]>;
  close(): void;
}

export async function openAgentView(stateDir: string): Promise<AgentView> {
  const socket: Socket = createConnection(join(stateDir, "agent.sock"));
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.on("error", () => undefined);
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  createInterface({ input: socket }).on("line", (line) => {
    const message = JSON.parse(line) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return; // a pushed podStatus event: the test asks for the whole picture instead
    const waiter = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error) waiter?.reject(new Error(`agent ${stateDir}: ${message.error.message}`));
    else waiter?.resolve(message.result);
  });
  socket.on("close", () => {
    for (const waiter of waiting.values()) waiter.reject(new Error(`agent ${stateDir}: connection closed`));
    waiting.clear();
  });
  let next = 1;
  const request = (method: string, params: unknown, timeoutMs: number): Promise<unknown> => {
    const id = next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`agent ${stateDir}: no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      socket.write(`${JSON.stringify({ id, method, params })}\n`);
    });
  };
  // No `node` in the hello: this peer only looks, it must not rename the node.
  await request("hello", { protocolVersion: PROTOCOL_VERSION, client: "capstan-fault-test" }, 10_000);
  return {
    statuses: async (timeoutMs = 5_000) => {
      const result = (await request("statuses", {}, timeoutMs)) as { pods: unknown[] };
      return result.pods.map((pod) => podStatusSchema.parse(pod));
    },
    close: () => socket.destroy(),
  };
}
