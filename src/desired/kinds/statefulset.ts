import { z } from "zod";
import { APPS_V1, annotationsSchema, defineKind, labelsSchema, templateMetaSchema } from "./meta.ts";
import { dns1035Label, dns1123Label, nonNegativeInt } from "./names.ts";
import { checkClaimAnnotations, persistentVolumeClaimSpecSchema } from "./persistentvolumeclaim.ts";
import { checkPodSpec, checkTemplateRestartPolicy, podSpecFieldsSchema } from "./pod.ts";
import { intOrPercentSchema, isZero, updateStrategySchema } from "./rollout.ts";
import { checkSelectorSelectsTemplate, labelSelectorSchema } from "./selector.ts";

/**
 * A StatefulSet: pods with stable names (`<name>-0`, `<name>-1`...) and each
 * its own persistent directory made from `volumeClaimTemplates`.
 */

const statefulSetRollingUpdateSchema = z
  .strictObject({
    /** Pods with an ordinal below the partition keep the old template (staged rollouts). */
    partition: nonNegativeInt.default(0),
    maxUnavailable: intOrPercentSchema.default(1),
  })
  .superRefine((rollingUpdate, ctx) => {
    if (isZero(rollingUpdate.maxUnavailable)) {
      ctx.addIssue({ code: "custom", path: ["maxUnavailable"], message: "must be greater than 0" });
    }
  });

export const volumeClaimTemplateSchema = z.strictObject({
  metadata: z.strictObject({
    name: dns1123Label(),
    labels: labelsSchema.optional(),
    annotations: annotationsSchema.optional(),
  }),
  // A claim's own spec, as a PersistentVolumeClaim in Git has it (templates have no volumeMode: they are directories).
  spec: persistentVolumeClaimSpecSchema.omit({ volumeMode: true }),
});
export type VolumeClaimTemplate = z.infer<typeof volumeClaimTemplateSchema>;

const retentionSchema = z.enum(["Retain", "Delete"]).default("Retain");

// The pod spec's own cross-field checks run below, once the claim templates (which also declare volumes) are known.
const statefulPodTemplateSchema = z.strictObject({
  metadata: templateMetaSchema.prefault({}),
  spec: podSpecFieldsSchema,
});

export const statefulSetSpecSchema = z
  .strictObject({
    replicas: nonNegativeInt.default(1),
    /** The headless Service that gives the pods their stable network names. */
    serviceName: dns1035Label().optional(),
    selector: labelSelectorSchema,
    template: statefulPodTemplateSchema,
    podManagementPolicy: z.enum(["OrderedReady", "Parallel"]).default("OrderedReady"),
    updateStrategy: updateStrategySchema("OnDelete", statefulSetRollingUpdateSchema).prefault({}),
    volumeClaimTemplates: z.array(volumeClaimTemplateSchema).optional(),
    persistentVolumeClaimRetentionPolicy: z
      .strictObject({ whenDeleted: retentionSchema, whenScaled: retentionSchema })
      .prefault({}),
    minReadySeconds: nonNegativeInt.default(0),
    revisionHistoryLimit: nonNegativeInt.default(10),
  })
  .superRefine((spec, ctx) => {
    const claimNames = new Set<string>();
    spec.volumeClaimTemplates?.forEach((claim, index) => {
      if (claimNames.has(claim.metadata.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["volumeClaimTemplates", index, "metadata", "name"],
          message: `duplicate claim template name ${JSON.stringify(claim.metadata.name)}`,
        });
      }
      claimNames.add(claim.metadata.name);
      checkClaimAnnotations(claim.metadata.annotations, ctx, ["volumeClaimTemplates", index, "metadata", "annotations"]);
    });
    checkPodSpec(spec.template.spec, ctx, { at: ["template", "spec"], extraVolumeNames: claimNames });
    checkSelectorSelectsTemplate(spec.selector, spec.template.metadata.labels, ctx);
    checkTemplateRestartPolicy(spec.template, ["Always"], "StatefulSet", ctx);
  });
export type StatefulSetSpec = z.infer<typeof statefulSetSpecSchema>;

/**
 * Each pod's name `<name>-<ordinal>` is also its hostname (a DNS label, 63
 * characters at most) and the value of its pod-name label, and
 * `<name>-<10-character template hash>` names its revision: a label of at
 * most 52 characters keeps all three valid up to ordinal 999999999.
 */
export const statefulSetNameMaxLength = 52;

export const statefulSetKind = defineKind({
  kind: "StatefulSet",
  apiVersions: APPS_V1,
  namespaced: true,
  name: dns1123Label(statefulSetNameMaxLength),
  fields: { spec: statefulSetSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type StatefulSet = z.infer<typeof statefulSetKind.schema>;
