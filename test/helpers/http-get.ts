import { request } from "node:http";

/**
 * One GET of `/` on a fresh connection (no keep-alive, so every call is routed
 * anew, as a Service proxy sees a new client); resolves with the body, rejects
 * when refused, reset, timed out or answered other than 200.
 */
export function httpGet(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: "/", agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}
