import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logging.ts";
import { Agent } from "../../../src/nodes/agent/index.ts";
import { AGENT_LABEL } from "../../../src/nodes/agent/runtime/docker.ts";
import { createDockerRuntime, createProcessRuntime, type ContainerRuntime } from "../../../src/nodes/agent/runtime/index.ts";
import type { RuntimeName } from "../../../src/nodes/protocol.ts";
import { agentStateDir } from "../../helpers/agent.ts";
import { ensureTestImage, removeLabelledContainers, requireDocker } from "../../helpers/docker.ts";
import { eventually } from "../../helpers/eventually.ts";

/** A pod with `image` through the whole agent, on a real Docker engine; and a node without the runtime. */

let image: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  await requireDocker();
  image = await ensureTestImage();
}, 120_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openAgent(withDocker: boolean): Promise<Agent> {
  const dir = await agentStateDir();
  cleanups.push(dir.cleanup);
  const runtimes = new Map<RuntimeName, ContainerRuntime>([["process", createProcessRuntime()]]);
  if (withDocker) runtimes.set("docker", createDockerRuntime({ cli: "docker" }));
  const agent = await Agent.open({ stateDir: dir.stateDir, log: silentLogger, runtimes });
  cleanups.push(async () => {
    await agent.close();
    await removeLabelledContainers(AGENT_LABEL, agent.agentId);
    await agent.removeSecretRoot();
  });
  return agent;
}

const imagePod = () => ({
  uid: "img-1",
  namespace: "default",
  name: "httpd",
  spec: {
    containers: [
      {
        name: "web",
        image,
        // PORT inside the container is the containerPort; the engine publishes a free host port to it.
        command: ["sh", "-c", "echo hello > /tmp/index.html; echo listening on $PORT; exec httpd -f -p $PORT -h /tmp"],
        ports: [{ name: "http", containerPort: 8080 }],
        readinessProbe: { tcpSocket: { port: "http" }, periodSeconds: 1 },
      },
    ],
    terminationGracePeriodSeconds: 1,
  },
});

describe("agent with the docker runtime", () => {
  it("reports docker as a runtime and runs an image pod reachable on its host port, ready by its probe", async () => {
    const agent = await openAgent(true);
    expect(agent.info().runtimes).toEqual(["process", "docker"]);
    await agent.sync(1, [imagePod()]);
    await eventually(() => expect(agent.statuses()[0]).toMatchObject({ phase: "Running", ready: true }), 30_000);
    const container = agent.statuses()[0]!.containerStatuses[0]!;
    expect(container.runtime).toBe("docker");
    const hostPort = container.ports.http!;
    expect(hostPort).not.toBe(8080);
    expect(await (await fetch(`http://127.0.0.1:${hostPort}/index.html`)).text()).toBe("hello\n");
    // The engine's output reaches the log file through `docker logs -f`, a moment after the container wrote it.
    await eventually(async () => {
      let log = "";
      await agent.logs({ namespace: "default", name: "httpd", follow: false }, (_container, text) => (log += text), new AbortController().signal);
      expect(log).toContain("listening on 8080");
    });

    await agent.sync(2, []);
    await eventually(() => expect(agent.statuses()).toEqual([]), 20_000);
  });

  it("leaves an image pod waiting with RuntimeUnavailable on a node without an engine", async () => {
    const agent = await openAgent(false);
    expect(agent.info().runtimes).toEqual(["process"]);
    await agent.sync(1, [imagePod()]);
    await eventually(() =>
      expect(agent.statuses()[0]?.containerStatuses[0]?.state).toMatchObject({ waiting: { reason: "RuntimeUnavailable" } }),
    );
  });
});
