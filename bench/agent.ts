/**
 * The node link under load, over ONE SSH connection to a real sshd on
 * 127.0.0.2 and the real capstan-agent: round trips of 1,000 small RPCs
 * (p50/p99), the time to start 100 pods on one node until all are ready, and
 * the restart latency of a crashed pod (kill -9 → running again; goal ≤ 1 s
 * for the first restart). Prints one JSON line.
 */
import { readFile } from "node:fs/promises";
import { systemClock } from "../src/clock.ts";
import { silentLogger } from "../src/logging.ts";
import { AgentConnection, AgentNodeClient, createSshTransport } from "../src/nodes/index.ts";
import { PROTOCOL_VERSION, type AgentPodInput } from "../src/nodes/protocol.ts";
import { agentCommand, agentStateDir } from "../test/helpers/agent.ts";
import { startSshd } from "../test/helpers/sshd.ts";

const podCount = Number(process.env.BENCH_PODS ?? 100);
const rpcCount = 1_000;

const sshd = await startSshd({ address: "127.0.0.2" });
const { stateDir, cleanup } = await agentStateDir();
const privateKey = await readFile(sshd.clientKey.privateKeyPath, "utf8");
const transportOptions = {
  node: "bench",
  address: sshd.address,
  port: sshd.port,
  user: "root",
  privateKey,
  pinnedHostKey: sshd.hostKey,
  location: { stateDir, agentCommand },
  log: silentLogger,
};
try {
  // 1. RPC round trips over one long-lived channel.
  const rpcTransport = createSshTransport(transportOptions);
  const connectStarted = performance.now();
  const connection = new AgentConnection(await rpcTransport.open(), silentLogger);
  await connection.request("hello", { protocolVersion: PROTOCOL_VERSION });
  const firstConnectMs = performance.now() - connectStarted;
  const samples: number[] = [];
  for (let i = 0; i < rpcCount; i += 1) {
    const started = performance.now();
    await connection.request("ping", {});
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  connection.close();
  await rpcTransport.close();

  // 2. 100 pods on one node until all are ready.
  const client = new AgentNodeClient({
    node: "bench",
    address: sshd.address,
    transport: createSshTransport(transportOptions),
    clock: systemClock,
    log: silentLogger,
  });
  await waitFor(() => client.state().connected, 30_000);
  const startedPods = performance.now();
  await client.sync(Array.from({ length: podCount }, (_, index) => pod(index)));
  await waitFor(() => client.statuses().filter((status) => status.ready).length === podCount, 120_000);
  const startPodsMs = performance.now() - startedPods;

  // 3. A crashed pod (kill -9) running again.
  const restarts: number[] = [];
  for (const index of [0, 1, 2]) {
    const victim = client.statuses().find((status) => status.name === `pod-${index}`)!;
    const pid = victim.containerStatuses[0]!.pid!;
    const killedAt = performance.now();
    process.kill(pid, "SIGKILL");
    await waitFor(() => {
      const now = client.statuses().find((status) => status.uid === victim.uid)?.containerStatuses[0];
      return now !== undefined && "running" in now.state && now.pid !== pid;
    }, 30_000);
    restarts.push(performance.now() - killedAt);
  }

  await client.sync([]);
  await waitFor(() => client.statuses().length === 0, 60_000);
  await client.close();

  const round = (value: number) => Math.round(value * 100) / 100;
  process.stdout.write(
    `${JSON.stringify({
      bench: "agent",
      rpcCount,
      rpcP50Ms: round(samples[Math.floor(rpcCount * 0.5)]!),
      rpcP99Ms: round(samples[Math.floor(rpcCount * 0.99)]!),
      // SSH handshake + starting capstan-agent (node + tsx) + hello.
      firstConnectWithAgentStartMs: Math.round(firstConnectMs),
      pods: podCount,
      startPodsUntilReadyMs: Math.round(startPodsMs),
      firstRestartMs: Math.round(restarts[0]!),
      restartMs: restarts.map(Math.round),
      firstRestartGoalMs: 1000,
      firstRestartGoalMet: restarts[0]! <= 1000,
    })}\n`,
  );
} finally {
  await cleanup();
  await sshd.stop();
}

/** A small HTTP server (busybox httpd) that is ready once its port accepts connections. */
function pod(index: number): AgentPodInput {
  return {
    uid: `bench-${index}`,
    namespace: "default",
    name: `pod-${index}`,
    spec: {
      containers: [
        {
          name: "httpd",
          command: ["/usr/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:$(PORT)", "-h", "/tmp"],
          ports: [{ name: "http", containerPort: 80 }],
          readinessProbe: { tcpSocket: { port: "http" }, periodSeconds: 1 },
        },
      ],
      terminationGracePeriodSeconds: 2,
    },
  } as AgentPodInput;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
