import { z } from "zod";
import { APPS_V1, defineKind } from "./meta.ts";
import { nonNegativeInt } from "./names.ts";
import { checkTemplateRestartPolicy, podTemplateSpecSchema } from "./pod.ts";
import { checkSelectorSelectsTemplate, labelSelectorSchema } from "./selector.ts";

/** A ReplicaSet: a fixed number of identical pods. Usually made by a Deployment, one per rollout. */

export const replicaSetSpecSchema = z
  .strictObject({
    replicas: nonNegativeInt.default(1),
    selector: labelSelectorSchema,
    template: podTemplateSpecSchema,
    minReadySeconds: nonNegativeInt.default(0),
  })
  .superRefine((spec, ctx) => {
    checkSelectorSelectsTemplate(spec.selector, spec.template.metadata.labels, ctx);
    checkTemplateRestartPolicy(spec.template, ["Always"], "ReplicaSet", ctx);
  });
export type ReplicaSetSpec = z.infer<typeof replicaSetSpecSchema>;

export const replicaSetKind = defineKind({
  kind: "ReplicaSet",
  apiVersions: APPS_V1,
  namespaced: true,
  fields: { spec: replicaSetSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type ReplicaSet = z.infer<typeof replicaSetKind.schema>;
