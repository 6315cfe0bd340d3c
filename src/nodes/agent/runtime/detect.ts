import { execFile } from "node:child_process";
import type { RuntimeName } from "../../protocol.ts";

/** How long a container CLI gets to show that its server answers. */
const PROBE_TIMEOUT_MS = 5_000;

/**
 * The runtimes this host can run: always "process"; "docker" / "podman"
 * when that CLI is installed and its server answers (an installed docker
 * whose daemon is stopped cannot start containers, so it is not offered).
 */
export async function detectRuntimes(): Promise<RuntimeName[]> {
  const [docker, podman] = await Promise.all([
    answers("docker", ["version", "--format", "{{.Server.Version}}"]),
    // Local podman has no server section in `version`; `info` reaches its storage and runtime.
    answers("podman", ["info", "--format", "{{.Version.Version}}"]),
  ]);
  const runtimes: RuntimeName[] = ["process"];
  if (docker) runtimes.push("docker");
  if (podman) runtimes.push("podman");
  return runtimes;
}

function answers(cli: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(cli, args, { timeout: PROBE_TIMEOUT_MS, killSignal: "SIGKILL" }, (error, stdout) => {
      resolve(!error && stdout.trim() !== "");
    });
  });
}
