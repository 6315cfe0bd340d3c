import { z } from "zod";
import { dns1123Label, labelKeySchema, labelValueSchema } from "./names.ts";
import { labelSelectorSchema } from "./selector.ts";

/** Where a pod may and would rather run: node affinity, pod (anti-)affinity, tolerations. */

const nodeSelectorRequirementSchema = z
  .strictObject({
    key: labelKeySchema,
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
    values: z.array(labelValueSchema).optional(),
  })
  .superRefine((requirement, ctx) => {
    const values = requirement.values ?? [];
    switch (requirement.operator) {
      case "In":
      case "NotIn":
        if (values.length === 0) {
          ctx.addIssue({ code: "custom", path: ["values"], message: `must be specified when operator is ${requirement.operator}` });
        }
        break;
      case "Exists":
      case "DoesNotExist":
        if (values.length > 0) {
          ctx.addIssue({ code: "custom", path: ["values"], message: `may not be specified when operator is ${requirement.operator}` });
        }
        break;
      case "Gt":
      case "Lt":
        // Gt and Lt compare the node's label as an integer, so there must be exactly one integer to compare with.
        if (values.length !== 1 || !/^-?\d+$/.test(values[0]!)) {
          ctx.addIssue({
            code: "custom",
            path: ["values"],
            message: `must be a single integer value when operator is ${requirement.operator}`,
          });
        }
        break;
    }
  });

const nodeSelectorTermSchema = z.strictObject({
  matchExpressions: z.array(nodeSelectorRequirementSchema).min(1, "must have at least one expression"),
});

const weightSchema = z
  .number()
  .int("must be an integer")
  .min(1, "must be in the range 1-100")
  .max(100, "must be in the range 1-100");

const nodeAffinitySchema = z.strictObject({
  requiredDuringSchedulingIgnoredDuringExecution: z
    .strictObject({
      nodeSelectorTerms: z.array(nodeSelectorTermSchema).min(1, "must have at least one node selector term"),
    })
    .optional(),
  preferredDuringSchedulingIgnoredDuringExecution: z
    .array(z.strictObject({ weight: weightSchema, preference: nodeSelectorTermSchema }))
    .optional(),
});

const podAffinityTermSchema = z.strictObject({
  labelSelector: labelSelectorSchema,
  namespaces: z.array(dns1123Label()).optional(),
  topologyKey: labelKeySchema,
});

const podAffinitySchema = z.strictObject({
  requiredDuringSchedulingIgnoredDuringExecution: z.array(podAffinityTermSchema).optional(),
  preferredDuringSchedulingIgnoredDuringExecution: z
    .array(z.strictObject({ weight: weightSchema, podAffinityTerm: podAffinityTermSchema }))
    .optional(),
});

export const affinitySchema = z.strictObject({
  nodeAffinity: nodeAffinitySchema.optional(),
  podAffinity: podAffinitySchema.optional(),
  podAntiAffinity: podAffinitySchema.optional(),
});
export type Affinity = z.infer<typeof affinitySchema>;

export const taintEffectSchema = z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]);

export const tolerationSchema = z
  .strictObject({
    key: labelKeySchema.optional(),
    operator: z.enum(["Equal", "Exists"]).default("Equal"),
    value: labelValueSchema.optional(),
    effect: taintEffectSchema.optional(),
    tolerationSeconds: z.number().int("must be an integer").optional(),
  })
  .superRefine((toleration, ctx) => {
    if (toleration.operator === "Exists" && toleration.value) {
      ctx.addIssue({ code: "custom", path: ["value"], message: "value must be empty when operator is Exists" });
    }
    if (!toleration.key && toleration.operator !== "Exists") {
      ctx.addIssue({ code: "custom", path: ["operator"], message: "operator must be Exists when key is empty" });
    }
    if (toleration.tolerationSeconds !== undefined && toleration.effect !== "NoExecute") {
      ctx.addIssue({
        code: "custom",
        path: ["effect"],
        message: "effect must be NoExecute when tolerationSeconds is set",
      });
    }
  });
export type Toleration = z.infer<typeof tolerationSchema>;
