// A tiny key-value store: one file per key under DATA_DIR, which the StatefulSet
// backs with a persistent volume so the data outlives the process.
//   PUT /kv/<key>  (body = value)   GET /kv/<key>   DELETE /kv/<key>   GET /kv (list)
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";

const port = Number(process.env.PORT_HTTP ?? process.env.PORT ?? 7000);
const dataDir = process.env.DATA_DIR ?? "data";
const maxValueBytes = 1024 * 1024;
const keyPattern = /^[A-Za-z0-9._-]{1,200}$/;

await mkdir(dataDir, { recursive: true });

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    request.on("data", (chunk) => {
      size += chunk.length;
      if (size > maxValueBytes) {
        reject(new Error("value too large"));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

async function handle(request, response) {
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  if (path === "/healthz") return response.writeHead(200).end("ok\n");
  if (path === "/kv" && request.method === "GET") {
    const keys = (await readdir(dataDir)).filter((name) => !name.endsWith(".tmp")).sort();
    return response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  }
  const match = /^\/kv\/(.+)$/.exec(path);
  const key = match ? decodeURIComponent(match[1]) : "";
  if (!keyPattern.test(key) || key.endsWith(".tmp")) return response.writeHead(404).end("not found\n");
  const file = join(dataDir, key);
  if (request.method === "GET") {
    const value = await readFile(file).catch(() => undefined);
    return value === undefined ? response.writeHead(404).end("no such key\n") : response.writeHead(200).end(value);
  }
  if (request.method === "PUT") {
    const value = await readBody(request);
    // Write then rename, so a crash never leaves half a value behind.
    await writeFile(`${file}.tmp`, value);
    await rename(`${file}.tmp`, file);
    return response.writeHead(204).end();
  }
  if (request.method === "DELETE") {
    await rm(file, { force: true });
    return response.writeHead(204).end();
  }
  return response.writeHead(405).end("method not allowed\n");
}

const server = createServer((request, response) => {
  handle(request, response).catch((error) => {
    if (!response.headersSent) response.writeHead(500);
    response.end(`${error.message}\n`);
  });
});

server.listen(port, () => console.log(`kv-store listening on ${port}, data in ${dataDir}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
