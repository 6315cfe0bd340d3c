import { describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../../src/desired/index.ts";
import { silentLogger } from "../../../src/logging.ts";
import { FakeNodeClient } from "../../../src/nodes/client/index.ts";
import { ServiceRoutePusher } from "../../../src/nodes/client/service-route-pusher.ts";
import type { ServiceRoute, SyncServicesResult } from "../../../src/nodes/protocol.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";

/** The route pusher's own rules: send only what changed, wait for answers but never for long, report listen errors. */

const web: ServiceRoute = { namespace: "default", name: "web", headless: false, ports: [{ port: 30080, endpoints: [{ address: "10.0.0.1", port: 31000 }] }] };

function setup() {
  const clock = new ManualClock();
  const store = new MemoryDesiredStore();
  const pusher = new ServiceRoutePusher({ store, clock, log: silentLogger, answerWaitMs: 2_000 });
  const fast = new FakeNodeClient({ node: "fast", clock });
  const sent: string[] = [];
  const { syncServices } = fast;
  fast.syncServices = (services) => {
    sent.push(`fast ${services.length}`);
    return syncServices.call(fast, services);
  };
  return { clock, store, pusher, fast, sent };
}

describe("ServiceRoutePusher", () => {
  it("sends a node the set only when it differs from the one it was last given, or after forget()", async () => {
    const { pusher, fast, sent } = setup();
    await pusher.push([fast], [web]);
    await pusher.push([fast], [structuredClone(web)]);
    expect(sent).toEqual(["fast 1"]);
    await pusher.push([fast], []);
    expect(sent).toEqual(["fast 1", "fast 0"]);
    pusher.forget("fast");
    await pusher.push([fast], []);
    expect(sent).toEqual(["fast 1", "fast 0", "fast 0"]);
  });

  it("waits for a node that does not answer only up to its bound", async () => {
    const { clock, pusher, fast } = setup();
    const hung = new FakeNodeClient({ node: "hung", clock });
    hung.syncServices = () => new Promise<SyncServicesResult>(() => undefined);
    let done = false;
    const pushing = pusher.push([fast, hung], [web]).then(() => (done = true));
    await clock.advance(1_999);
    expect(done).toBe(false);
    expect(fast.services()).toEqual([web]);
    await clock.advance(1);
    await pushing;
    expect(done).toBe(true);
  });

  it("records each listen error as a Warning event on its Service, naming the node", async () => {
    const { pusher, fast, store } = setup();
    const release = await fast.occupyPort(30080);
    await pusher.push([fast], [web]);
    expect((await store.listEvents()).map((event) => [event.kind, event.namespace, event.name, event.type, event.reason, event.message])).toEqual([
      ["Service", "default", "web", "Warning", "ListenFailed", "node fast cannot listen on port 30080: listen EADDRINUSE: address already in use fast:30080"],
    ]);
    await release();
  });
});
