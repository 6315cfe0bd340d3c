/**
 * `npm run bench`: runs every benchmark in its own process, echoes each JSON
 * line and writes them all to bench/results.local.json.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((file) => file.endsWith(".ts") && file !== "run.ts")
  .filter((file) => only.length === 0 || only.includes(file.replace(/\.ts$/, "")));

const results: Record<string, unknown> = {};
let failed = false;
for (const file of benches) {
  const run = spawnSync(process.execPath, ["--import", "tsx", join(here, file)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const line = run.stdout.trim().split("\n").at(-1) ?? "";
  process.stdout.write(`${line}\n`);
  try {
    results[file.replace(/\.ts$/, "")] = JSON.parse(line);
  } catch {
    failed = true;
    process.stderr.write(`${file} printed no JSON line (exit ${run.status})\n`);
  }
}
writeFileSync(join(here, "results.local.json"), `${JSON.stringify({ measuredAt: new Date().toISOString(), results }, null, 2)}\n`);
process.exit(failed ? 1 : 0);
