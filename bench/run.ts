/**
 * `npm run bench`: runs every benchmark in its own process, one after
 * another, echoes each JSON line and records them in bench/results.json
 * (committed, so that the README can show the latest figures), with the
 * machine they were measured on and, per bench, when, the load average at its
 * start and how long it took. A bench that fails is recorded too: its exit
 * code and the end of its stderr.
 *
 * `npm run bench -- scale sync` (or BENCH_ONLY=scale,sync) runs only those;
 * the other benches' last results are kept.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(here, "results.json");
const only = [...process.argv.slice(2), ...(process.env.BENCH_ONLY ?? "").split(",")].map((name) => name.trim()).filter(Boolean);
const benches = readdirSync(here)
  .filter((file) => file.endsWith(".ts") && file !== "run.ts")
  .map((file) => file.replace(/\.ts$/, ""))
  .filter((name) => only.length === 0 || only.includes(name));
const unknown = only.filter((name) => !benches.includes(name));
if (unknown.length > 0) {
  process.stderr.write(`no such bench: ${unknown.join(", ")}\n`);
  process.exit(2);
}

interface Entry {
  measuredAt: string;
  loadAverageAtStart: number[];
  durationSeconds: number;
  ok: boolean;
  result?: unknown;
  error?: { exitCode: number | null; signal: string | null; reason: string };
}

const previous = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, "utf8")) as { results?: Record<string, Entry> }) : {};
const results: Record<string, Entry> = { ...(previous.results ?? {}) };
const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  loadAverageAtStart: loadavg().map((load) => Math.round(load * 100) / 100),
};

let failed = false;
for (const name of benches) {
  const entry = await runBench(name);
  results[name] = entry;
  if (!entry.ok) failed = true;
  // Written after each bench: an interrupted run keeps what it measured.
  write();
}
process.exit(failed ? 1 : 0);

function write(): void {
  const sorted = Object.fromEntries(Object.entries(results).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(resultsFile, `${JSON.stringify({ updatedAt: new Date().toISOString(), machine, results: sorted }, null, 2)}\n`);
}

/** One bench in its own process; its last stdout line is its JSON, its stderr is echoed and its tail kept for a failure. */
function runBench(name: string): Promise<Entry> {
  const measuredAt = new Date().toISOString();
  const loadAverageAtStart = loadavg().map((load) => Math.round(load * 100) / 100);
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", join(here, `${name}.ts`)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderrTail = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString()).slice(-2_000);
    });
    child.on("close", (exitCode, signal) => {
      const durationSeconds = Math.round((performance.now() - started) / 100) / 10;
      const line = stdout.trim().split("\n").at(-1) ?? "";
      let result: unknown;
      try {
        result = JSON.parse(line);
      } catch {
        result = undefined;
      }
      if (exitCode === 0 && result !== undefined) {
        process.stdout.write(`${line}\n`);
        resolve({ measuredAt, loadAverageAtStart, durationSeconds, ok: true, result });
        return;
      }
      const reason = result === undefined ? `printed no JSON line; stderr ends: ${stderrTail.trim()}` : `exited ${exitCode ?? signal} after printing its line`;
      process.stderr.write(`${name} failed (exit ${exitCode ?? signal})\n`);
      resolve({ measuredAt, loadAverageAtStart, durationSeconds, ok: false, ...(result !== undefined ? { result } : {}), error: { exitCode, signal, reason } });
    });
  });
}
