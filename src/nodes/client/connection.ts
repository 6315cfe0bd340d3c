import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import {
  agentMessageSchema,
  encodeFrame,
  FrameDecoder,
  type AgentEvent,
  type ErrorBody,
  type Method,
  type Request,
} from "../protocol.ts";

/**
 * One conversation with an agent over a byte stream: numbered requests,
 * answers matched by id, events to a listener. Many requests share the one
 * stream (a round trip over a live SSH channel costs ≈1.5 ms; a new exec
 * ≈150 ms), so nothing here opens anything.
 */
export class AgentConnection {
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer?: NodeJS.Timeout }>();
  readonly #decoder = new FrameDecoder();
  readonly #eventListeners = new Set<(event: AgentEvent) => void>();
  #closed: Error | undefined;
  readonly closed: Promise<Error>;

  constructor(
    private readonly stream: Duplex,
    private readonly log: Logger,
  ) {
    stream.setEncoding("utf8");
    let markClosed!: (error: Error) => void;
    this.closed = new Promise((resolve) => (markClosed = resolve));
    const end = (error?: Error) => {
      if (this.#closed) return;
      this.#closed = error ?? new AgentConnectionClosedError("the agent connection closed");
      for (const pending of this.#pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(this.#closed);
      }
      this.#pending.clear();
      markClosed(this.#closed);
    };
    stream.on("data", (chunk: string) => this.#receive(chunk));
    stream.on("error", (error: Error) => end(new AgentConnectionClosedError(`the agent connection failed: ${error.message}`)));
    stream.on("close", () => end());
    stream.on("end", () => end());
  }

  get isClosed(): boolean {
    return this.#closed !== undefined;
  }

  onEvent(listener: (event: AgentEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Sends a request and resolves with its result; rejects with AgentRequestError for an error answer. */
  request<M extends Method>(method: M, params: Extract<Request, { method: M }>["params"], options: { timeoutMs?: number; id?: (id: number) => void } = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    options.id?.(id);
    return new Promise((resolve, reject) => {
      const pending: { resolve: (value: unknown) => void; reject: (error: Error) => void; timer?: NodeJS.Timeout } = { resolve, reject };
      if (options.timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new AgentTimeoutError(`${method} got no answer within ${options.timeoutMs} ms`));
        }, options.timeoutMs);
      }
      this.#pending.set(id, pending);
      this.stream.write(encodeFrame({ id, method, params }));
    });
  }

  close(): void {
    this.stream.destroy();
  }

  #receive(chunk: string): void {
    const { lines, oversize } = this.#decoder.push(chunk);
    if (oversize > 0) this.log.warn({ oversize }, "dropped oversize frames from the agent");
    for (const line of lines) {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        this.log.warn({ bytes: line.length }, "agent sent a frame that is not JSON");
        continue;
      }
      const parsed = agentMessageSchema.safeParse(json);
      if (!parsed.success) {
        this.log.warn({ problem: parsed.error.issues[0]?.message }, "agent sent a malformed message");
        continue;
      }
      const message = parsed.data;
      if ("event" in message) {
        for (const listener of this.#eventListeners) listener(message);
        continue;
      }
      if (message.id === null) {
        this.log.warn({ error: "error" in message ? message.error : undefined }, "agent reported a protocol error");
        continue;
      }
      const pending = this.#pending.get(message.id);
      if (!pending) continue;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if ("error" in message) pending.reject(new AgentRequestError(message.error));
      else pending.resolve(message.result);
    }
  }
}

export class AgentRequestError extends Error {
  readonly code: string;
  constructor(body: ErrorBody) {
    super(body.message);
    this.name = "AgentRequestError";
    this.code = body.code;
  }
}

export class AgentConnectionClosedError extends Error {
  override name = "AgentConnectionClosedError";
}

export class AgentTimeoutError extends Error {
  override name = "AgentTimeoutError";
}
