import { describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../../src/desired/store-memory.ts";
import { silentLogger } from "../../../src/logging.ts";
import { NodeStatusWriter } from "../../../src/nodes/client/node-status-writer.ts";
import type { NodeLinkState } from "../../../src/nodes/client/node-client.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";

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
