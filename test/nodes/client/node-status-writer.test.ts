import { describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../../src/desired/store-memory.ts";
import { silentLogger } from "../../../src/logging.ts";
import type { NodeLinkState } from "../../../src/nodes/client/index.ts";
import { PROTOCOL_VERSION, type NodeInfo } from "../../../src/nodes/protocol.ts";
import { NodeStatusWriter } from "../../../src/nodes/client/node-status-writer.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";

/** An agent that cannot write its state (a full disk) is an event on its Node when it starts failing and when it recovers. */

const info: NodeInfo = {
  protocolVersion: PROTOCOL_VERSION,
  agentVersion: "test",
  hostname: "h",
  bootId: "b",
  capacity: { cpuMillis: 1000, memoryBytes: 1e9 },
  runtimes: ["process"],
  generation: 0,
  stateDir: "/var/lib/capstan",
};

function linked(stateError?: string): NodeLinkState {
  return { node: "node-7", connected: true, reconnects: 0, info: stateError ? { ...info, stateError } : info };
}

describe("NodeStatusWriter and the agent's state write error", () => {
  it("records a Warning naming the node and the error once, and a Normal event when it clears", async () => {
    const store = new MemoryDesiredStore();
    const writer = new NodeStatusWriter({ store, clock: new ManualClock(), log: silentLogger, node: "node-7", address: "127.0.0.7" });
    await writer.write(linked());
    expect(await store.listEvents({ kind: "Node", name: "node-7" })).toEqual([]);

    const enospc = "ENOSPC: no space left on device, open '/var/lib/capstan/.state.json.ab12.tmp'";
    await writer.write(linked(enospc));
    await writer.write(linked(enospc));
    await writer.write({ node: "node-7", connected: false, reconnects: 1 });
    let events = await store.listEvents({ kind: "Node", name: "node-7" });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "Warning", reason: "AgentStateWriteFailed" });
    expect(events[0]!.message).toBe(`node node-7: the agent cannot write its state: ${enospc}; its pods keep running, and changes sent meanwhile are applied but not saved`);

    await writer.write(linked());
    events = await store.listEvents({ kind: "Node", name: "node-7" });
    expect(events.map((event) => `${event.type} ${event.reason}`).sort()).toEqual(["Normal AgentStateWritten", "Warning AgentStateWriteFailed"]);
  });
});
