import { spawn } from "node:child_process";
import { type Socket, createConnection } from "node:net";
import type { Duplex } from "node:stream";
import { AgentUnavailableError, TransportClosedError, messageOf } from "../../errors.ts";
import { type Logger, silentLogger } from "../../logging.ts";
import { type AgentLocation, type AgentTransport, abortable, agentSocketPath, shellQuote } from "./transport.ts";

export interface LocalTransportOptions {
  location: AgentLocation;
  log?: Logger;
  /** Runs `<agentCommand> <args>` to completion, rejecting when it fails. Default: `/bin/sh -c`. */
  spawnAgent?: (args: string[]) => Promise<void>;
  /** How long `serve --daemon` may take before the start counts as failed (default spawnAgent only). */
  agentStartTimeoutMs?: number;
}

/** The name errors and logs use for the node the control plane itself runs on. */
const localNode = "local";

/**
 * The agent on this very host, reached through its unix socket directly.
 *
 * onDisconnect never fires: there is no connection under the streams, each
 * stream is its own socket, and its end or close is the signal (as it is over
 * SSH when only the agent goes away). `hostKey` is always undefined.
 */
export function createLocalTransport(options: LocalTransportOptions): AgentTransport {
  const { location } = options;
  const log = (options.log ?? silentLogger).child({ node: localNode });
  const socketPath = agentSocketPath(location.stateDir);
  const spawnAgent = options.spawnAgent ?? ((args: string[]) => runAgentCommand(location.agentCommand, args, options.agentStartTimeoutMs ?? 30_000));
  const sockets = new Set<Socket>();
  let agentStart: Promise<void> | undefined;
  let closed = false;

  function startAgent(): Promise<void> {
    // Concurrent open() calls that found no agent share one start: two daemons would fight over the socket.
    agentStart ??= (async () => {
      const startedAt = Date.now();
      try {
        await spawnAgent(["serve", "--daemon", "--state-dir", location.stateDir]);
      } catch (error) {
        throw error instanceof AgentUnavailableError ? error : new AgentUnavailableError(localNode, messageOf(error), { cause: error });
      }
      log.info({ ms: Date.now() - startedAt }, "agent started");
    })().finally(() => {
      agentStart = undefined;
    });
    return agentStart;
  }

  async function openStream(): Promise<Socket> {
    try {
      return await connectSocket(socketPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ECONNREFUSED") throw new AgentUnavailableError(localNode, messageOf(error), { cause: error });
    }
    await startAgent();
    try {
      return await connectSocket(socketPath);
    } catch (error) {
      throw new AgentUnavailableError(localNode, `started, but ${messageOf(error)}`, { cause: error });
    }
  }

  return {
    async open(signal?: AbortSignal): Promise<Duplex> {
      if (closed) throw new TransportClosedError(localNode);
      const socket = await abortable(openStream(), signal, (late) => late.destroy());
      if (closed) {
        socket.destroy();
        throw new TransportClosedError(localNode);
      }
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      return socket;
    },
    hostKey: undefined,
    onDisconnect() {
      return () => undefined;
    },
    async close(): Promise<void> {
      closed = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

function connectSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * `/bin/sh -c '<agentCommand> "$@"' sh <args>`: agentCommand may carry its own
 * arguments ("node /opt/capstan/bin/capstan-agent.js") while args need no quoting.
 */
function runAgentCommand(agentCommand: string, args: string[], timeoutMs: number): Promise<void> {
  const display = `${agentCommand} ${args.map(shellQuote).join(" ")}`;
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", `${agentCommand} "$@"`, "sh", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8192));
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new AgentUnavailableError(localNode, `\`${display}\` did not finish within ${timeoutMs} ms: ${output.trim()}`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new AgentUnavailableError(localNode, `cannot run \`${display}\`: ${error.message}`, { cause: error }));
    });
    let graceTimer: NodeJS.Timeout | undefined;
    child.once("exit", () => {
      // A daemon that kept our pipes would hold them forever: give them a moment, then stop waiting.
      graceTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, 1_000);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      if (code === 0) resolve();
      else reject(new AgentUnavailableError(localNode, `\`${display}\` exited with ${signal ? `signal ${signal}` : `code ${code}`}: ${output.trim()}`));
    });
  });
}
