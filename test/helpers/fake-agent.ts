/**
 * The stand-in agent of transport tests (test/fixtures/fake-agent.mjs): how
 * to run it, find it and stop it. It daemonizes out of the test's process
 * tree, so every test that may start one must call stopFakeAgents(stateDir).
 */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const fakeAgentScript = fileURLToPath(new URL("../fixtures/fake-agent.mjs", import.meta.url));

/** `agentCommand` for an AgentLocation. */
export const fakeAgentCommand = `${process.execPath} ${fakeAgentScript}`;

/** Pids of running `fake-agent.mjs serve --state-dir <stateDir>` processes (the daemons, not their starters). */
export function fakeAgentPids(stateDir: string): number[] {
  return fakeAgentProcesses(stateDir)
    .filter(({ argv }) => argv[2] === "serve" && !argv.includes("--daemon"))
    .map(({ pid }) => pid);
}

/** Every live fake-agent process for `stateDir`: daemons, starters (`serve --daemon`) and bridges (`connect`). */
function fakeAgentProcesses(stateDir: string): Array<{ pid: number; argv: string[] }> {
  const found: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue; // dead, waiting for a reaper
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv[1] === fakeAgentScript && argv[argv.indexOf("--state-dir") + 1] === stateDir) found.push({ pid: Number(entry), argv });
    } catch {
      // exited while we were reading
    }
  }
  return found;
}

/** The pid the agent wrote into its state dir, if it got that far. */
export function fakeAgentPidFile(stateDir: string): number | undefined {
  try {
    return Number(readFileSync(`${stateDir}/agent.pid`, "utf8").trim());
  } catch {
    return undefined;
  }
}

/**
 * SIGKILLs every fake-agent process of `stateDir` (a unique temp dir, so only
 * the test's own; a starter still running could spawn one more daemon) and
 * waits until none is left.
 */
export async function stopFakeAgents(stateDir: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietScans = 0;
  // Two empty scans in a row: a starter caught between spawn and exec shows its parent's command line once.
  while (quietScans < 2) {
    const pids = fakeAgentProcesses(stateDir).map(({ pid }) => pid);
    quietScans = pids.length === 0 ? quietScans + 1 : 0;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (pids.length > 0 && Date.now() > deadline) throw new Error(`fake agents ${pids.join(", ")} of ${stateDir} survived SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
