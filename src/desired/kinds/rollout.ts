import { z } from "zod";
import { nonNegativeInt } from "./names.ts";

/** Update strategies shared by Deployment, DaemonSet and StatefulSet. */

const percentPattern = /^\d+%$/;

/** An absolute count or a percentage of the desired replicas, as Kubernetes' IntOrString. */
export const intOrPercentSchema = z.union([
  nonNegativeInt,
  z.string().regex(percentPattern, 'must be a non-negative integer or a percentage such as "25%"'),
]);
export type IntOrPercent = z.infer<typeof intOrPercentSchema>;

export function isZero(value: IntOrPercent): boolean {
  return typeof value === "number" ? value === 0 : Number.parseInt(value, 10) === 0;
}

function overHundredPercent(value: IntOrPercent): boolean {
  return typeof value === "string" && Number.parseInt(value, 10) > 100;
}

/**
 * `maxSurge`/`maxUnavailable` with the kind's defaults. Both zero would leave
 * the rollout no room to move, so that is refused as in Kubernetes.
 */
export function surgeAndUnavailableSchema(defaults: { maxSurge: IntOrPercent; maxUnavailable: IntOrPercent }) {
  return z
    .strictObject({
      maxSurge: intOrPercentSchema.default(defaults.maxSurge),
      maxUnavailable: intOrPercentSchema.default(defaults.maxUnavailable),
    })
    .superRefine((rollingUpdate, ctx) => {
      if (overHundredPercent(rollingUpdate.maxUnavailable)) {
        ctx.addIssue({ code: "custom", path: ["maxUnavailable"], message: "must not be greater than 100%" });
      }
      if (isZero(rollingUpdate.maxSurge) && isZero(rollingUpdate.maxUnavailable)) {
        ctx.addIssue({ code: "custom", path: ["maxUnavailable"], message: "may not be 0 when maxSurge is 0" });
      }
    });
}

/**
 * `{type, rollingUpdate}` where the type defaults to RollingUpdate and the
 * output always carries `rollingUpdate` (with its defaults) for that type and
 * never for the other, so reconcilers need not default anything again.
 */
export function updateStrategySchema<const OtherType extends string, RollingUpdate extends z.ZodType>(
  otherType: OtherType,
  rollingUpdateSchema: RollingUpdate,
) {
  return z
    .strictObject({
      type: z
        .union([z.literal("RollingUpdate"), z.literal(otherType)], {
          error: `must be "RollingUpdate" or ${JSON.stringify(otherType)}`,
        })
        .default("RollingUpdate"),
      rollingUpdate: rollingUpdateSchema.optional(),
    })
    .superRefine((strategy, ctx) => {
      if (strategy.type !== "RollingUpdate" && strategy.rollingUpdate !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["rollingUpdate"],
          message: `may not be specified when strategy type is ${JSON.stringify(strategy.type)}`,
        });
      }
    })
    .transform(
      (strategy): { type: "RollingUpdate"; rollingUpdate: z.output<RollingUpdate> } | { type: OtherType } =>
        strategy.type === "RollingUpdate"
          ? { type: "RollingUpdate", rollingUpdate: strategy.rollingUpdate ?? rollingUpdateSchema.parse({}) }
          : { type: strategy.type as OtherType },
    );
}
