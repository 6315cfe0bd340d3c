import { access } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { startCluster, type Cluster } from "./e2e-cluster.ts";
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

describe("startCluster", () => {
  it("removes the servers, agents, repo and data dir it made when the control plane cannot start", async () => {
    let made: Made | undefined;
    const starting = startCluster(database().url, {
      nodes: 2,
      firstAddress: "127.0.0.8",
      env: { CAPSTAN_RESYNC_INTERVAL: "-1" },
      beforeStart: (cluster) => void (made = remember(cluster)),
    });
    await expect(starting).rejects.toThrow();
    await expectGone(made!);
  }, 60_000);

  it("removes what it made when stopped while starting (a hook timed out), and start fails", async () => {
    let made: Made | undefined;
    const starting = startCluster(database().url, {
      nodes: 2,
      firstAddress: "127.0.0.8",
      beforeStart: async (cluster) => {
        made = remember(cluster);
        await cluster.stop();
      },
    });
    await expect(starting).rejects.toThrow("stopped while it was starting");
    await expectGone(made!);
  }, 60_000);

  it("also closes the HTTP server of its repo and removes the served dir", async () => {
    let made: Made | undefined;
    const starting = startCluster(database().url, {
      nodes: 2,
      firstAddress: "127.0.0.8",
      overHttp: { username: "deployer", password: "secret" },
      env: { CAPSTAN_RESYNC_INTERVAL: "-1" },
      beforeStart: (cluster) => void (made = remember(cluster, true)),
    });
    await expect(starting).rejects.toThrow();
    await expectGone(made!, true);
  }, 60_000);
});
