import type { Filter } from "../framework.ts";

/**
 * A container with an `image` runs under docker or podman; every agent runs
 * host processes, so only image pods narrow the choice.
 */
export const noImageRuntimeReason = "node(s) had no container runtime for image";

export const runtimeFilter: Filter = {
  name: "runtime",
  prepare({ pod }) {
    const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    if (!containers.some((container) => container.image !== undefined)) return undefined;
    return (node) =>
      node.runtimes.includes("docker") || node.runtimes.includes("podman") ? undefined : noImageRuntimeReason;
  },
};
