// One per node (a DaemonSet): follows every *.log file in LOG_DIR and ships each
// new line to stdout as one JSON object, tagged with the node it came from.
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";

const logDir = process.env.LOG_DIR ?? "logs";
const nodeName = process.env.NODE_NAME ?? "local";
const intervalMs = Number(process.env.SHIP_INTERVAL_MS ?? 2000);
const offsets = new Map();
const partials = new Map();

async function shipNewLines(file) {
  const path = join(logDir, file);
  const { size } = await stat(path);
  let offset = offsets.get(file) ?? 0;
  if (size < offset) offset = 0; // truncated or rotated: start again
  if (size === offset) return;
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(size - offset);
    await handle.read(buffer, 0, buffer.length, offset);
    offsets.set(file, size);
    const text = (partials.get(file) ?? "") + buffer.toString("utf8");
    const lines = text.split("\n");
    partials.set(file, lines.pop() ?? ""); // keep an unfinished last line for the next round
    for (const line of lines) {
      if (line) process.stdout.write(`${JSON.stringify({ node: nodeName, file, line })}\n`);
    }
  } finally {
    await handle.close();
  }
}

async function round() {
  const files = await readdir(logDir).catch(() => undefined);
  if (!files) return;
  for (const file of files.filter((name) => name.endsWith(".log"))) {
    await shipNewLines(file).catch((error) => console.error(`log-shipper: ${file}: ${error.message}`));
  }
}

console.log(`log-shipper on ${nodeName} following ${logDir}`);
await round();
const timer = setInterval(() => void round(), intervalMs);
process.on("SIGTERM", () => {
  clearInterval(timer);
  void round().finally(() => process.exit(0));
});
