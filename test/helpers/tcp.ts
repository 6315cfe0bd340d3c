import { connect, createServer, type Server, type Socket } from "node:net";

/** Real TCP peers for the Service proxy tests: tagged echo backends, free ports, and a client that half-closes. */

export interface EchoBackend {
  host: string;
  port: number;
  tag: string;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * A backend that answers each connection with `<tag>\n`, then echoes every
 * byte, and ends its side once the client has ended its own (half-close).
 */
export async function startEchoBackend(host: string, tag: string, port = 0): Promise<EchoBackend> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.write(`${tag}\n`);
    socket.pipe(socket);
  });
  await listen(server, host, port);
  return {
    host,
    port: (server.address() as { port: number }).port,
    tag,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** A port nothing listens on at `host` right now (bound, read, released). */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  await listen(server, host, 0);
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Connects, sends `payload`, half-closes, and collects everything until the
 * peer ends: what a backend of startEchoBackend answered (its tag and the
 * echo). Rejects on a reset or a refused connection.
 */
export function exchange(host: string, port: number, payload: Buffer | string = ""): Promise<{ tag: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const all = Buffer.concat(chunks);
      const newline = all.indexOf(10);
      if (newline === -1) return reject(new Error(`no tag line in an answer of ${all.length} bytes`));
      resolve({ tag: all.subarray(0, newline).toString(), body: all.subarray(newline + 1) });
      socket.end();
    });
    socket.once("connect", () => socket.end(payload));
  });
}

/** How a connection attempt ends when nothing real answers: refused, reset, or closed without a byte. */
export function connectionOutcome(host: string, port: number): Promise<"refused" | "reset" | "closed" | "answered"> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("data", () => {
      socket.destroy();
      resolve("answered");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED" ? "refused" : error.code === "ECONNRESET" ? "reset" : "closed"));
    socket.once("end", () => resolve("closed"));
  });
}
