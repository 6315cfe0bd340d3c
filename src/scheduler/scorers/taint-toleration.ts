import type { Scorer } from "../framework.ts";
import { anyToleratesTaint } from "../tolerations.ts";
import { reverseScaleToMax } from "../normalize.ts";

/**
 * PreferNoSchedule taints: "avoid unless needed". The fewer such taints a node
 * has that the pod does not tolerate, the better. Only tolerations without an
 * effect or with PreferNoSchedule count, as in Kubernetes.
 */
export const taintTolerationScorer: Scorer = {
  name: "taintToleration",
  prepare({ tolerations }) {
    const relevant = tolerations.filter((toleration) => toleration.effect === undefined || toleration.effect === "PreferNoSchedule");
    return (node) => {
      let untolerated = 0;
      for (const taint of node.taints) {
        if (taint.effect === "PreferNoSchedule" && !anyToleratesTaint(relevant, taint)) untolerated++;
      }
      return untolerated;
    };
  },
  normalize: reverseScaleToMax,
};
