import { z } from "zod";
import { labelKeySchema, labelValueSchema } from "./names.ts";
import { labelsSchema } from "./meta.ts";

/** Kubernetes label selectors: how workloads find their pods and services their endpoints. */

const labelSelectorRequirementSchema = z
  .strictObject({
    key: labelKeySchema,
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
    values: z.array(labelValueSchema).optional(),
  })
  .superRefine((requirement, ctx) => {
    const count = requirement.values?.length ?? 0;
    if ((requirement.operator === "In" || requirement.operator === "NotIn") && count === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["values"],
        message: `must be specified when operator is ${requirement.operator}`,
      });
    }
    if ((requirement.operator === "Exists" || requirement.operator === "DoesNotExist") && count > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["values"],
        message: `may not be specified when operator is ${requirement.operator}`,
      });
    }
  });

export const labelSelectorSchema = z.strictObject(
  {
    matchLabels: labelsSchema.optional(),
    matchExpressions: z.array(labelSelectorRequirementSchema).optional(),
  },
  { error: (issue) => (issue.input === undefined ? "is required" : undefined) },
);
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

/** An empty selector matches everything, which no workload wants: it would adopt every pod. */
export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
}

/** Whether a selector selects an object with these labels (all terms must hold, as in Kubernetes). */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const requirement of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(labels, requirement.key);
    const values = requirement.values ?? [];
    switch (requirement.operator) {
      case "In":
        if (!present || !values.includes(labels[requirement.key]!)) return false;
        break;
      case "NotIn":
        if (present && values.includes(labels[requirement.key]!)) return false;
        break;
      case "Exists":
        if (!present) return false;
        break;
      case "DoesNotExist":
        if (present) return false;
        break;
    }
  }
  return true;
}

/**
 * The workload rule: a selector must be non-empty and must select the pods its
 * own template makes, or the controller would create pods it never sees.
 * Reported at `selector` relative to the spec being refined.
 */
export function checkSelectorSelectsTemplate(
  selector: LabelSelector,
  templateLabels: Record<string, string>,
  ctx: z.RefinementCtx,
): void {
  if (isEmptySelector(selector)) {
    ctx.addIssue({ code: "custom", path: ["selector"], message: "empty selector is invalid: it would select every pod" });
    return;
  }
  if (!selectorMatches(selector, templateLabels)) {
    ctx.addIssue({
      code: "custom",
      path: ["selector"],
      message: "selector does not match template labels",
    });
  }
}
