import { z } from "zod";
import { APPS_V1, defineKind } from "./meta.ts";
import { nonNegativeInt, positiveInt } from "./names.ts";
import { checkTemplateRestartPolicy, podTemplateSpecSchema } from "./pod.ts";
import { surgeAndUnavailableSchema, updateStrategySchema } from "./rollout.ts";
import { checkSelectorSelectsTemplate, labelSelectorSchema } from "./selector.ts";

/** A Deployment: replicas of one pod template, rolled out through ReplicaSets on every change. */

export const deploymentStrategySchema = updateStrategySchema(
  "Recreate",
  surgeAndUnavailableSchema({ maxSurge: "25%", maxUnavailable: "25%" }),
);

export const deploymentSpecSchema = z
  .strictObject({
    replicas: nonNegativeInt.default(1),
    selector: labelSelectorSchema,
    template: podTemplateSpecSchema,
    strategy: deploymentStrategySchema.prefault({}),
    minReadySeconds: nonNegativeInt.default(0),
    revisionHistoryLimit: nonNegativeInt.default(10),
    progressDeadlineSeconds: positiveInt.default(600),
    paused: z.boolean().default(false),
  })
  .superRefine((spec, ctx) => {
    checkSelectorSelectsTemplate(spec.selector, spec.template.metadata.labels, ctx);
    checkTemplateRestartPolicy(spec.template, ["Always"], "Deployment", ctx);
    // A pod only counts as available after minReadySeconds, so a shorter deadline could never be met.
    if (spec.progressDeadlineSeconds <= spec.minReadySeconds) {
      ctx.addIssue({ code: "custom", path: ["progressDeadlineSeconds"], message: "must be greater than minReadySeconds" });
    }
  });
export type DeploymentSpec = z.infer<typeof deploymentSpecSchema>;

export const deploymentKind = defineKind({
  kind: "Deployment",
  apiVersions: APPS_V1,
  namespaced: true,
  fields: { spec: deploymentSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type Deployment = z.infer<typeof deploymentKind.schema>;
