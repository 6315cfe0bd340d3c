import type { Filter } from "../framework.ts";

/** A fixed hostPort is one per node: a second pod asking for it would fail to bind. */
export const hostPortsReason = "node(s) didn't have free ports for the requested pod ports";

export const nodePortsFilter: Filter = {
  name: "nodePorts",
  prepare({ hostPorts }) {
    if (hostPorts.length === 0) return undefined;
    return (node) => {
      for (const pod of node.pods) {
        if (pod.hostPorts === undefined) continue;
        for (const port of pod.hostPorts) {
          if (hostPorts.includes(port)) return hostPortsReason;
        }
      }
      return undefined;
    };
  },
};
