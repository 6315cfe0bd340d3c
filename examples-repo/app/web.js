// The shop's web front end: a tiny dependency-free HTTP server.
// capstan passes the port it chose for the container port named "http" as PORT (and PORT_HTTP).
import { appendFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";

const port = Number(process.env.PORT_HTTP ?? process.env.PORT ?? 8080);
const podName = process.env.POD_NAME ?? "web-local";
const greeting = process.env.GREETING ?? "Hello";
const startedAt = new Date();
let requests = 0;

async function logAccess(line) {
  if (!process.env.LOG_DIR) return;
  // Best effort: a full disk must not take the shop down.
  await appendFile(join(process.env.LOG_DIR, `${podName}.log`), `${line}\n`).catch(() => {});
}

const server = createServer((request, response) => {
  requests += 1;
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  // Probes come every few seconds; logging them would drown the real traffic.
  if (path !== "/healthz") void logAccess(`${new Date().toISOString()} ${request.method} ${path}`);
  if (path === "/healthz") {
    response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
  } else if (path === "/api/info") {
    response.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        pod: podName,
        greeting,
        // Say whether the secret arrived, never what it is.
        apiTokenConfigured: Boolean(process.env.API_TOKEN),
        requests,
        startedAt: startedAt.toISOString(),
      }),
    );
  } else if (path === "/") {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(
      `<!doctype html><title>shop</title><h1>${greeting} from ${podName}</h1><p>${requests} requests served.</p>\n`,
    );
  } else {
    response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
});

server.listen(port, () => console.log(`web ${podName} listening on ${port}`));

// Finish the requests in flight, then exit: capstan sends SIGTERM and waits terminationGracePeriodSeconds.
process.on("SIGTERM", () => {
  console.log("web: SIGTERM, closing");
  server.close(() => process.exit(0));
});
