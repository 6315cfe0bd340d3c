import { chmod, mkdir, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Logger } from "pino";
import {
  encodeFrame,
  errorCodes,
  FrameDecoder,
  PROTOCOL_VERSION,
  requestSchema,
  type AgentEvent,
  type ErrorBody,
  type Request,
} from "../protocol.ts";
import { AgentNotFoundError, type Agent } from "./agent.ts";
import { describeRoute, ServiceRouteError } from "./services.ts";

/**
 * The agent's unix socket: one NDJSON conversation per connection (an SSH
 * stream-local forward from the control plane, or the local transport).
 * Every frame is parsed with zod; a bad one gets an error answer and a log
 * line, never a crash. The socket is 0600 in a 0700 directory: only the
 * agent's user (and whoever can become it, as sshd does) may talk to it.
 */
export interface AgentServer {
  readonly path: string;
  close(): Promise<void>;
}

export async function serveAgent(agent: Agent, socketPath: string, log: Logger): Promise<AgentServer> {
  // Created 0700 if missing; an existing directory (the state dir, made private by Agent.open) is not re-moded here.
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
  if (await answers(socketPath)) throw new AgentAlreadyRunningError(socketPath);
  await rm(socketPath, { force: true });

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    handleConnection(agent, socket, log);
  });
  const previousMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previousMask);
  }
  await chmod(socketPath, 0o600);
  return {
    path: socketPath,
    close: async () => {
      await closeServer(server, sockets);
      await rm(socketPath, { force: true });
    },
  };
}

export class AgentAlreadyRunningError extends Error {
  constructor(readonly socketPath: string) {
    super(`another capstan-agent already answers on ${socketPath}`);
    this.name = "AgentAlreadyRunningError";
  }
}

/** True when something accepts connections on the socket (a live agent); false for a stale file or none. */
export function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function handleConnection(agent: Agent, socket: Socket, log: Logger): void {
  const decoder = new FrameDecoder();
  const follows = new Map<number, AbortController>();
  let helloDone = false;
  let unsubscribe: (() => void) | undefined;
  socket.setEncoding("utf8");

  const send = (message: unknown): void => {
    if (!socket.destroyed) socket.write(encodeFrame(message));
  };
  const fail = (id: number | null, code: string, message: string): void => send({ id, error: { code, message } satisfies ErrorBody });

  socket.on("data", (chunk: string) => {
    const { lines, oversize } = decoder.push(chunk);
    if (oversize > 0) {
      log.warn({ oversize }, "dropped oversize protocol frames");
      fail(null, errorCodes.badFrame, "frame longer than the protocol allows");
    }
    for (const line of lines) void handleLine(line);
  });
  socket.on("error", (error) => log.debug({ err: error }, "agent connection error"));
  socket.on("close", () => {
    unsubscribe?.();
    for (const follow of follows.values()) follow.abort();
  });

  async function handleLine(line: string): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      log.warn({ bytes: line.length }, "malformed protocol frame (not JSON)");
      return fail(null, errorCodes.badFrame, "frame is not valid JSON");
    }
    const parsed = requestSchema.safeParse(json);
    if (!parsed.success) {
      const id = typeof (json as { id?: unknown })?.id === "number" ? (json as { id: number }).id : null;
      const issue = parsed.error.issues[0]!;
      const where = `${serviceNamed(json, issue.path)}${issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""}`;
      log.warn({ id, problem: `${where}${issue.message}` }, "malformed protocol request");
      return fail(id, errorCodes.badRequest, `${where}${issue.message}`);
    }
    const request = parsed.data;
    if (!helloDone && request.method !== "hello" && request.method !== "ping") {
      return fail(request.id, errorCodes.badRequest, "send hello first");
    }
    try {
      const result = await dispatch(request);
      if (result !== undefined) send({ id: request.id, result });
    } catch (error) {
      const code =
        error instanceof AgentNotFoundError ? errorCodes.notFound : error instanceof ServiceRouteError ? errorCodes.badRequest : errorCodes.internal;
      if (code === errorCodes.internal) log.error({ err: error, method: request.method }, "agent request failed");
      if (code === errorCodes.badRequest) log.warn({ id: request.id, problem: (error as Error).message }, "refused protocol request");
      fail(request.id, code, (error as Error).message);
    }
  }

  /** The result to answer with; undefined when an error answer was already sent. */
  async function dispatch(request: Request): Promise<unknown> {
    switch (request.method) {
      case "hello": {
        if (request.params.protocolVersion !== PROTOCOL_VERSION) {
          return fail(request.id, errorCodes.unsupportedVersion, `protocol version ${request.params.protocolVersion} is not supported (this agent speaks ${PROTOCOL_VERSION})`);
        }
        if (request.params.node) agent.setNode(request.params.node);
        helloDone = true;
        // From here on, every status change is pushed; the client asks `statuses` once for the full picture.
        unsubscribe ??= agent.onStatus((generation, pods, removed) =>
          send({ event: "podStatus", generation, pods, removed } satisfies AgentEvent),
        );
        return { ...agent.info(), stateError: agent.stateError };
      }
      case "ping":
        return agent.stateError ? { stateError: agent.stateError } : {};
      case "syncPods":
        return agent.sync(request.params.generation, request.params.pods);
      case "syncServices":
        return agent.syncServices(request.params.generation, request.params.services);
      case "deleteClaims":
        return agent.deleteClaims(request.params.claims);
      case "statuses":
        return { generation: agent.generation, pods: agent.statuses() };
      case "logs": {
        const controller = new AbortController();
        if (request.params.follow) follows.set(request.id, controller);
        try {
          let text = "";
          let overrun = false;
          await agent.logs(
            request.params,
            (container, chunk) => {
              if (!request.params.follow) {
                text += chunk;
                return;
              }
              // A reader slower than the container writes (a chatty pod over a slow SSH link) would grow this
              // buffer without bound: past a few MiB the follow ends, with an error the client sees.
              if (socket.writableLength > MAX_FOLLOW_BUFFER) {
                overrun = true;
                controller.abort();
                return;
              }
              send({ event: "log", requestId: request.id, container, text: chunk } satisfies AgentEvent);
            },
            controller.signal,
          );
          if (overrun) return fail(request.id, errorCodes.badRequest, "the log reader fell too far behind; follow stopped (read with --tail, or follow again)");
          return request.params.follow ? {} : { text: text.length > MAX_LOG_RESPONSE ? text.slice(-MAX_LOG_RESPONSE) : text };
        } finally {
          follows.delete(request.id);
        }
      }
      case "cancel":
        follows.get(request.params.requestId)?.abort();
        return {};
    }
  }
}

/** "service <namespace>/<name> (services[i]): " when a syncServices request failed inside one route, so the sender sees which. */
function serviceNamed(json: unknown, path: readonly PropertyKey[]): string {
  if (path[0] !== "params" || path[1] !== "services" || typeof path[2] !== "number") return "";
  const services = (json as { params?: { services?: unknown } }).params?.services;
  return Array.isArray(services) ? `${describeRoute(services[path[2]], path[2])}: ` : "";
}

/** Unsent bytes a following log reader may fall behind by before its follow is ended. */
const MAX_FOLLOW_BUFFER = 8 * 1024 * 1024;

/** A non-following logs answer is one frame: keep it well under the frame limit. */
const MAX_LOG_RESPONSE = 1024 * 1024;

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}
