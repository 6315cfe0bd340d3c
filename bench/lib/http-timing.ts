/** Sequential GETs of one URL over keep-alive, timed to the body's last byte; any answer but 200 throws. */
import { Agent, request } from "node:http";

export interface GetTimings {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  bytes: number;
}

export async function timeGets(url: string, requests: number, warmup = 5): Promise<GetTimings> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let index = 0; index < warmup; index++) await get(agent, url);
    const samples: number[] = [];
    let bytes = 0;
    for (let index = 0; index < requests; index++) {
      const sample = await get(agent, url);
      samples.push(sample.ms);
      bytes = sample.bytes;
    }
    samples.sort((a, b) => a - b);
    const at = (quantile: number) => Math.round(samples[Math.min(samples.length - 1, Math.ceil(quantile * samples.length) - 1)]! * 10) / 10;
    return { requests, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), bytes };
  } finally {
    agent.destroy();
  }
}

function get(agent: Agent, url: string): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { agent, headers: { accept: "text/html,application/json" } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const body = Buffer.concat(chunks);
        if (response.statusCode !== 200) reject(new Error(`GET ${url} answered ${response.statusCode}: ${body.toString("utf8").slice(0, 300)}`));
        else resolve({ ms: performance.now() - start, bytes: body.length });
      });
      response.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
