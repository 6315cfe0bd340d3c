import type { Logger } from "pino";
import type { RuntimeName } from "../protocol.ts";
import { createDockerRuntime, createProcessRuntime, detectRuntimes, type ContainerRuntime } from "./runtime/index.ts";

/** The runtimes this host answers for, each ready to run containers. */
export async function hostRuntimes(log: Logger): Promise<Map<RuntimeName, ContainerRuntime>> {
  const runtimes = new Map<RuntimeName, ContainerRuntime>();
  for (const name of await detectRuntimes()) {
    if (name === "process") runtimes.set(name, createProcessRuntime({ log }));
    else runtimes.set(name, createDockerRuntime({ cli: name, log }));
  }
  return runtimes;
}
