import type { Filter } from "../framework.ts";

/** spec.nodeName pins a pod to one node; the other filters still check that node (it must fit). */
export const nodeNameReason = "node(s) didn't match the requested node name";

export const nodeNameFilter: Filter = {
  name: "nodeName",
  prepare({ pod }) {
    const wanted = pod.spec.nodeName;
    if (wanted === undefined) return undefined;
    return (node) => (node.name === wanted ? undefined : nodeNameReason);
  },
};
