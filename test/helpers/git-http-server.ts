/**
 * A real smart-HTTP Git server for tests: Node's http server on 127.0.0.1
 * running `git http-backend` as a CGI per request, serving every repository
 * under `root` (work trees and bare repositories alike). Pushes are enabled.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { relative } from "node:path";

export interface GitHttpServerOptions {
  /** Directory whose repositories are served: `<url>/<path relative to root>`. */
  root: string;
  /** Require HTTP basic auth with exactly these credentials. */
  auth?: { username: string; password: string };
}

/**
 * `fail`: every request gets 500. `hang`: requests are accepted and never
 * answered. `corrupt`: git-upload-pack answers (the packs) have bytes flipped
 * (see flipBytes), as a broken proxy or disk would; other requests are served intact.
 */
export type GitHttpFault = "fail" | "hang" | "corrupt" | null;

export interface GitHttpServer {
  /** e.g. http://127.0.0.1:34567 */
  readonly baseUrl: string;
  /** The URL of a repository directory under root. */
  urlFor(repoDir: string): string;
  /** Requests received so far (method and path), for tests that count fetches. */
  readonly requests: ReadonlyArray<{ method: string; path: string }>;
  setFault(fault: GitHttpFault): void;
  /** Closes the listener and every connection: the remote is unreachable (connection refused) until `up()`. */
  down(): Promise<void>;
  /** Listens again on the same address and port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startGitHttpServer(options: GitHttpServerOptions): Promise<GitHttpServer> {
  const children = new Set<ChildProcess>();
  const requests: Array<{ method: string; path: string }> = [];
  let fault: GitHttpFault = null;

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    requests.push({ method: request.method ?? "GET", path: url.pathname });
    if (fault === "hang") return;
    if (fault === "fail") {
      response.writeHead(500, { "content-type": "text/plain" }).end("injected failure\n");
      return;
    }
    let remoteUser: string | undefined;
    if (options.auth) {
      remoteUser = authenticatedUser(request, options.auth);
      if (!remoteUser) {
        request.resume();
        response.writeHead(401, { "www-authenticate": 'Basic realm="git"', "content-type": "text/plain" });
        response.end("authentication required\n");
        return;
      }
    }
    runBackend(request, response, url, remoteUser, fault === "corrupt" && url.pathname.endsWith("/git-upload-pack"));
  });

  function runBackend(request: IncomingMessage, response: ServerResponse, url: URL, remoteUser: string | undefined, corrupt: boolean): void {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: options.root,
      GIT_HTTP_EXPORT_ALL: "1",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      // Pushes without REMOTE_USER are refused by default; a later issue pushes rollback commits.
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.receivepack",
      GIT_CONFIG_VALUE_0: "true",
      GATEWAY_INTERFACE: "CGI/1.1",
      SERVER_PROTOCOL: "HTTP/1.1",
      REQUEST_METHOD: request.method ?? "GET",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: request.headers["content-type"] ?? "",
      REMOTE_ADDR: request.socket.remoteAddress ?? "127.0.0.1",
    };
    if (request.headers["content-length"]) env.CONTENT_LENGTH = request.headers["content-length"];
    if (request.headers["content-encoding"]) env.HTTP_CONTENT_ENCODING = request.headers["content-encoding"];
    if (request.headers["git-protocol"]) env.HTTP_GIT_PROTOCOL = String(request.headers["git-protocol"]);
    if (remoteUser) env.REMOTE_USER = remoteUser;

    const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
    children.add(child);
    child.on("close", () => children.delete(child));
    child.on("error", () => {
      if (!response.headersSent) response.writeHead(500).end("cannot run git http-backend\n");
    });
    child.stderr.resume();
    request.pipe(child.stdin);
    child.stdin.on("error", () => undefined);
    response.on("close", () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });

    // CGI output: headers (one of them `Status:`), a blank line, then the body, streamed as it comes.
    let head = Buffer.alloc(0);
    let headersDone = false;
    let bodyBytes = 0;
    const write = (chunk: Buffer) => {
      if (corrupt) chunk = flipBytes(chunk, bodyBytes);
      bodyBytes += chunk.length;
      response.write(chunk);
    };
    child.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const separator = findHeaderEnd(head);
      if (!separator) return;
      headersDone = true;
      writeCgiHeaders(response, head.subarray(0, separator.start).toString("latin1"));
      const rest = head.subarray(separator.end);
      if (rest.length > 0) write(rest);
    });
    child.stdout.on("end", () => {
      if (!headersDone && !response.headersSent) response.writeHead(502);
      response.end();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  let listening = true;

  return {
    baseUrl,
    requests,
    urlFor(repoDir) {
      const path = relative(options.root, repoDir).split("\\").join("/");
      return path ? `${baseUrl}/${path}` : baseUrl;
    },
    setFault(next) {
      fault = next;
    },
    async down() {
      if (!listening) return;
      listening = false;
      for (const child of children) child.kill("SIGKILL");
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
    async up() {
      if (listening) return;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject);
          resolve();
        });
      });
      listening = true;
    },
    async close() {
      for (const child of children) child.kill("SIGKILL");
      if (!listening) return;
      listening = false;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function authenticatedUser(request: IncomingMessage, expected: { username: string; password: string }): string | undefined {
  const match = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? "");
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return colon >= 0 && username === expected.username && password === expected.password ? username : undefined;
}

/**
 * Every 97th byte of the response body from byte 200 on, inverted: far enough
 * in to leave the pkt-line refs negotiation readable and hit the pack itself
 * (its objects and its trailing checksum).
 */
function flipBytes(chunk: Buffer, offset: number): Buffer {
  const copy = Buffer.from(chunk);
  for (let index = 0; index < copy.length; index += 1) {
    const at = offset + index;
    if (at >= 200 && at % 97 === 0) copy[index] = copy[index]! ^ 0xff;
  }
  return copy;
}

function findHeaderEnd(buffer: Buffer): { start: number; end: number } | undefined {
  const crlf = buffer.indexOf("\r\n\r\n");
  const lf = buffer.indexOf("\n\n");
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { start: crlf, end: crlf + 4 };
  if (lf >= 0) return { start: lf, end: lf + 2 };
  return undefined;
}

function writeCgiHeaders(response: ServerResponse, text: string): void {
  let status = 200;
  let statusMessage: string | undefined;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") {
      status = Number.parseInt(value, 10);
      statusMessage = value.slice(String(status).length).trim() || undefined;
    } else {
      headers[name] = value;
    }
  }
  if (statusMessage) response.writeHead(status, statusMessage, headers);
  else response.writeHead(status, headers);
}
