import type { Filter } from "../framework.ts";

/**
 * The pod's requests (podRequests: app containers summed, init containers
 * their peak) must fit in what the node has left, and the node must have a pod
 * slot free. A resource the pod does not request is not checked, so a pod
 * without requests still lands on a full node, as in Kubernetes. Only the
 * first shortage is reported, so that every rejected node counts once.
 */
export const tooManyPodsReason = "Too many pods";
export const insufficientCpuReason = "Insufficient cpu";
export const insufficientMemoryReason = "Insufficient memory";

export const resourcesFitFilter: Filter = {
  name: "resourcesFit",
  prepare({ requests }) {
    const cpuMillis = requests.cpuMillis;
    const memoryBytes = requests.memoryBytes;
    return (node) => {
      const allocatable = node.allocatable;
      const requested = node.requested;
      if (requested.pods + 1 > allocatable.pods) return tooManyPodsReason;
      if (cpuMillis > 0 && requested.cpuMillis + cpuMillis > allocatable.cpuMillis) return insufficientCpuReason;
      if (memoryBytes > 0 && requested.memoryBytes + memoryBytes > allocatable.memoryBytes) return insufficientMemoryReason;
      return undefined;
    };
  },
};
