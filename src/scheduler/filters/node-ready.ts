import type { Filter } from "../framework.ts";
import { anyToleratesTaint, notReadyTaint } from "../tolerations.ts";

/**
 * A node whose Ready condition is not True takes no new pods: its agent may
 * never start them. Pods that tolerate node.kubernetes.io/not-ready with
 * effect NoSchedule (DaemonSet-style) may still go, as in Kubernetes; a
 * NoExecute toleration only says how long a running pod may stay.
 */
export const notReadyReason = "node(s) were not ready";

export const nodeReadyFilter: Filter = {
  name: "nodeReady",
  prepare({ tolerations }) {
    if (anyToleratesTaint(tolerations, notReadyTaint)) return undefined;
    return (node) => (node.ready ? undefined : notReadyReason);
  },
};
