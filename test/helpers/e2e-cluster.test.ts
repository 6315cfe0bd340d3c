import { access } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { startCluster, type Cluster, type ClusterOptions } from "./e2e-cluster.ts";
import { useTestDatabase } from "./test-database.ts";

/** The e2e cluster helper leaves nothing behind when its start fails half-way or is stopped while under way. */

const database = useTestDatabase();

/** What a cluster made by the time its beforeStart ran: the paths and ports to look for afterwards. */
interface Made {
  dirs: string[];
  ports: { address: string; port: number }[];
}

function remember(cluster: Cluster, overHttp = false): Made {
  const made = {
    dirs: [cluster.repo.dir, cluster.dataDir, ...cluster.agents.map((agent) => agent.stateDir)],
    ports: cluster.servers.map((server) => ({ address: server.address, port: server.port })),
  };
  if (overHttp) {
    const { hostname, port } = new URL(cluster.gitServer.baseUrl);
    made.dirs.push(dirname(cluster.repo.dir));
    made.ports.push({ address: hostname, port: Number(port) });
  }
  return made;
}

const exists = (path: string) => access(path).then(() => true, () => false);
const listening = ({ address, port }: { address: string; port: number }) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, address);
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

async function expectGone(made: Made, overHttp = false): Promise<void> {
  expect(made.dirs).toHaveLength(overHttp ? 5 : 4);
  expect(made.ports).toHaveLength(overHttp ? 3 : 2);
  for (const dir of made.dirs) expect(await exists(dir), dir).toBe(false);
  for (const port of made.ports) expect(await listening(port), `${port.address}:${port.port}`).toBe(false);
}

/**
 * Starts two hosts on 127.0.0.8-9 with `options`; `then` runs in beforeStart,
 * once every host, the repo and the data dir exist. Expects the start to fail
 * with `failure`, and everything it made to be gone.
 */
async function expectFailedStartToLeaveNothing(options: Partial<ClusterOptions>, failure: string | RegExp, then?: (cluster: Cluster) => Promise<void>): Promise<void> {
  let made: Made | undefined;
  const starting = startCluster(database().url, {
    nodes: 2,
    firstAddress: "127.0.0.8",
    ...options,
    beforeStart: async (cluster) => {
      made = remember(cluster, options.overHttp !== undefined);
      await then?.(cluster);
    },
  });
  await expect(starting).rejects.toThrow(failure);
  await expectGone(made!, options.overHttp !== undefined);
}

describe("startCluster", () => {
  it("removes the servers, agents, repo and data dir it made when the control plane cannot start", async () => {
    await expectFailedStartToLeaveNothing({ env: { CAPSTAN_RESYNC_INTERVAL: "-1" } }, /resync/i);
  }, 60_000);

  it("removes what it made when stopped while starting (a hook timed out), and start fails", async () => {
    await expectFailedStartToLeaveNothing({}, "stopped while it was starting", (cluster) => cluster.stop());
  }, 60_000);

  it("also closes the HTTP server of its repo and removes the served dir", async () => {
    await expectFailedStartToLeaveNothing({ overHttp: { username: "deployer", password: "secret" }, env: { CAPSTAN_RESYNC_INTERVAL: "-1" } }, /resync/i);
  }, 60_000);
});
