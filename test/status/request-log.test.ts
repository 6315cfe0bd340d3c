import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { MemoryDesiredStore } from "../../src/desired/index.ts";
import { createLogger } from "../../src/logging.ts";
import { createStatusApp } from "../../src/status/index.ts";

/**
 * Request ids and the request log: every answer carries an X-Request-Id
 * (the caller's when it is plain and short, else a new one), every request
 * gets one log line bound to it, handlers' and errors' lines carry it too,
 * and neither credentials nor query strings reach the log.
 */

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function capture(level = "info") {
  const lines: Record<string, unknown>[] = [];
  let raw = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw += chunk.toString();
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level, destination }), lines, raw: () => raw };
}

function appWith(log: ReturnType<typeof capture>["log"], store = new MemoryDesiredStore()) {
  return createStatusApp({ store, log, storeReachable: async () => true });
}

describe("request ids", () => {
  it("echoes a plain caller id, and replaces a missing, long or unsafe one with a new UUID", async () => {
    const app = appWith(capture().log);
    const idOf = async (headers: Record<string, string>) => (await app.request("/healthz", { headers })).headers.get("x-request-id");
    expect(await idOf({ "X-Request-Id": "abc-123_x.y:z" })).toBe("abc-123_x.y:z");
    expect(await idOf({})).toMatch(uuid);
    expect(await idOf({ "X-Request-Id": "x".repeat(65) })).toMatch(uuid);
    expect(await idOf({ "X-Request-Id": "a b" })).toMatch(uuid);
    expect(await idOf({ "X-Request-Id": "<script>" })).toMatch(uuid);
    const first = await idOf({});
    expect(await idOf({})).not.toBe(first);
  });

  it("logs one line per request with its id, method, path, status and duration, and hands handlers a logger bound to the id", async () => {
    const { log, lines } = capture();
    const app = appWith(log);
    app.get("/probe", (c) => {
      c.get("log").info({ step: "inside" }, "handler says");
      return c.text(c.get("reqId"));
    });
    const response = await app.request("/probe", { headers: { "X-Request-Id": "req-42" } });
    expect(await response.text()).toBe("req-42");
    expect(lines.find((line) => line.msg === "handler says")).toMatchObject({ reqId: "req-42", step: "inside" });
    const line = lines.find((entry) => entry.msg === "request");
    expect(line).toMatchObject({ reqId: "req-42", method: "GET", path: "/probe", route: "/probe", status: 200, level: 30 });
    expect(typeof line!.durationMs).toBe("number");

    await app.request("/api/revisions?limit=abc");
    expect(lines.filter((entry) => entry.msg === "request").at(-1)).toMatchObject({ path: "/api/revisions", status: 400 });
  });

  it("keeps probes and scrapes out of the info log", async () => {
    const { log, lines } = capture();
    const app = appWith(log);
    for (const path of ["/healthz", "/readyz", "/metrics"]) await app.request(path);
    expect(lines).toEqual([]);
    const { log: debugLog, lines: debugLines } = capture("debug");
    await appWith(debugLog).request("/healthz");
    expect(debugLines.find((line) => line.msg === "request")).toMatchObject({ path: "/healthz", level: 20 });
  });

  it("never logs credentials: no Authorization, no cookie, no query string", async () => {
    const { log, raw } = capture("debug");
    const app = appWith(log);
    await app.request("/api/revisions?limit=1&token=query-secret-value", {
      headers: { Authorization: "Bearer header-secret-value", Cookie: "sid=cookie-secret-value" },
    });
    await app.request("/api/rollback", { method: "POST", headers: { Authorization: "Bearer header-secret-value", "content-type": "application/json" }, body: "{}" });
    expect(raw()).toContain('"msg":"request"');
    for (const secret of ["query-secret-value", "header-secret-value", "cookie-secret-value"]) expect(raw()).not.toContain(secret);
  });

  it("redacts credentials from headers a handler logs whole", async () => {
    const { log, lines, raw } = capture();
    log.info({ req: { headers: { authorization: "Bearer a-secret-1", cookie: "sid=a-secret-2", "set-cookie": "sid=a-secret-3", accept: "text/html" } } }, "headers");
    log.info({ headers: { cookie: "sid=a-secret-4", "set-cookie": "sid=a-secret-5" }, cookie: "a-secret-6" }, "more headers");
    for (const secret of ["a-secret-1", "a-secret-2", "a-secret-3", "a-secret-4", "a-secret-5", "a-secret-6"]) expect(raw()).not.toContain(secret);
    expect(lines[0]).toMatchObject({ req: { headers: { accept: "text/html", authorization: "[redacted]" } } });
  });

  it("logs a failed request's error with its request id", async () => {
    const { log, lines } = capture();
    const store = new MemoryDesiredStore();
    store.listRevisions = async () => {
      throw new Error("disk on fire");
    };
    const response = await appWith(log, store).request("/api/revisions", { headers: { "X-Request-Id": "req-500" } });
    expect(response.status).toBe(500);
    expect(response.headers.get("x-request-id")).toBe("req-500");
    expect(lines.find((line) => line.msg === "request failed")).toMatchObject({ reqId: "req-500", err: "disk on fire", level: 50 });
    expect(lines.find((line) => line.msg === "request")).toMatchObject({ reqId: "req-500", status: 500 });
  });
});
