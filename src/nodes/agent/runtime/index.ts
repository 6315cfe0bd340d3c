/** Container runtimes of the node agent: host process groups, docker and podman. */
export * from "./types.ts";
export { createProcessRuntime, type ProcessRuntimeOptions } from "./process.ts";
export { createDockerRuntime, dockerContainerName, type DockerRuntimeOptions } from "./docker.ts";
export { detectRuntimes } from "./detect.ts";
