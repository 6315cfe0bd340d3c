import { describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../../src/desired/store-memory.ts";
import { silentLogger } from "../../../src/logging.ts";
import type { NodeLinkState } from "../../../src/nodes/client/index.ts";
import { NodeStatusWriter } from "../../../src/nodes/client/node-status-writer.ts";
import { PROTOCOL_VERSION, type NodeInfo } from "../../../src/nodes/protocol.ts";
import { ManualClock } from "../../helpers/manual-clock.ts"

/** The Node's Ready transitions as events: what notifications (NodeNotReady) forward. */
describe("NodeStatusWriter events", () => {
  const up: NodeLinkState = { node: "n1", connected: true, lastHeartbeat: new Date("2026-01-01T00:00:00Z"), reconnects: 0 };
  const down: NodeLinkState = { node: "n1", connected: false, lastError: { code: "Unreachable", message: "connection refused" }, reconnects: 1 };

  async function writerOn() {
    const store = new MemoryDesiredStore();
    const clock = new ManualClock();
    const writer = new NodeStatusWriter({ store, clock, log: silentLogger, node: "n1", address: "10.0.0.1" });
    const notReady = async () => (await store.listEvents({ kind: "Node", name: "n1" })).filter((event) => event.reason === "NodeNotReady");
    return { writer, clock, notReady };
  }

  it("records NodeNotReady when a Ready node stops answering, once per transition", async () => {
    const { writer, clock, notReady } = await writerOn();
    await writer.write(down); // never Ready yet: the link is still coming up, not news
    expect(await notReady()).toEqual([]);
    await writer.write(up);
    await writer.write(down);
    await clock.advance(1_000);
    await writer.write(down);
    const events = await notReady();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "Warning", count: 1, message: expect.stringContaining("Ready=Unknown (Unreachable)") });
  });

  it("records NodeNotReady for a node refused for good (host key mismatch) even before it was Ready", async () => {
    const { writer, notReady } = await writerOn();
    await writer.write({ node: "n1", connected: false, lastError: { code: "HostKeyMismatch", message: "host key differs" }, reconnects: 0 });
    expect(await notReady()).toHaveLength(1);
  });
});

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
    // Losing the link also records NodeNotReady (the Ready transition); only the state write events count here.
    const stateEvents = async () => (await store.listEvents({ kind: "Node", name: "node-7" })).filter((event) => event.reason.startsWith("AgentState"));
    let events = await stateEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "Warning", reason: "AgentStateWriteFailed" });
    expect(events[0]!.message).toBe(`node node-7: the agent cannot write its state: ${enospc}; its pods keep running, and changes sent meanwhile are applied but not saved`);

    await writer.write(linked());
    events = await stateEvents();
    expect(events.map((event) => `${event.type} ${event.reason}`).sort()).toEqual(["Normal AgentStateWritten", "Warning AgentStateWriteFailed"]);
  });
});
