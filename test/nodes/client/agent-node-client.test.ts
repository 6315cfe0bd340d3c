import { expect } from "vitest";
import { systemClock } from "../../../src/clock.ts";
import { silentLogger } from "../../../src/logging.ts";
import { createLocalTransport } from "../../../src/nodes/client/local-transport.ts";
import { AgentNodeClient } from "../../../src/nodes/client/node-client.ts";
import { agentCommand, agentStateDir } from "../../helpers/agent.ts";
import { eventually } from "../../helpers/eventually.ts";
import { describeNodeClient, occupyOnHost } from "./node-client.suite.ts";

/** The contract against the real client and a real capstan-agent (a fresh one per case) over its local socket. */
describeNodeClient("AgentNodeClient with a real capstan-agent", async () => {
  const { stateDir, cleanup } = await agentStateDir();
  const client = new AgentNodeClient({
    node: "local",
    address: "127.0.0.1",
    transport: createLocalTransport({ location: { stateDir, agentCommand }, log: silentLogger }),
    clock: systemClock,
    log: silentLogger,
    heartbeatIntervalMs: 1_000,
    backoff: { initialMs: 100, maxMs: 1_000 },
  });
  try {
    await eventually(() => expect(client.state().connected).toBe(true), 20_000);
  } catch (error) {
    await client.close();
    await cleanup();
    throw error;
  }
  return { client, cleanup, occupy: occupyOnHost("127.0.0.1") };
});
