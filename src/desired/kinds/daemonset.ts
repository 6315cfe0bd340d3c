import { z } from "zod";
import { APPS_V1, defineKind } from "./meta.ts";
import { nonNegativeInt } from "./names.ts";
import { checkTemplateRestartPolicy, podTemplateSpecSchema } from "./pod.ts";
import { isZero, surgeAndUnavailableSchema, updateStrategySchema } from "./rollout.ts";
import { checkSelectorSelectsTemplate, labelSelectorSchema } from "./selector.ts";

/** A DaemonSet: one pod on every eligible node (a log shipper, a node agent). */

/**
 * As Kubernetes validates a DaemonSet: a rollout either surges (a new pod
 * beside the old one on each node) or takes nodes down, never both, so a
 * maxSurge needs `maxUnavailable: 0` written out (its default is 1).
 */
export const daemonSetUpdateStrategySchema = updateStrategySchema(
  "OnDelete",
  surgeAndUnavailableSchema({ maxSurge: 0, maxUnavailable: 1 }).superRefine((rollingUpdate, ctx) => {
    if (!isZero(rollingUpdate.maxSurge) && !isZero(rollingUpdate.maxUnavailable)) {
      ctx.addIssue({ code: "custom", path: ["maxSurge"], message: "may not be set when maxUnavailable is non-zero (set maxUnavailable: 0 to surge)" });
    }
  }),
);

export const daemonSetSpecSchema = z
  .strictObject({
    selector: labelSelectorSchema,
    template: podTemplateSpecSchema,
    updateStrategy: daemonSetUpdateStrategySchema.prefault({}),
    minReadySeconds: nonNegativeInt.default(0),
    revisionHistoryLimit: nonNegativeInt.default(10),
  })
  .superRefine((spec, ctx) => {
    checkSelectorSelectsTemplate(spec.selector, spec.template.metadata.labels, ctx);
    checkTemplateRestartPolicy(spec.template, ["Always"], "DaemonSet", ctx);
  });
export type DaemonSetSpec = z.infer<typeof daemonSetSpecSchema>;

export const daemonSetKind = defineKind({
  kind: "DaemonSet",
  apiVersions: APPS_V1,
  namespaced: true,
  fields: { spec: daemonSetSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type DaemonSet = z.infer<typeof daemonSetKind.schema>;
