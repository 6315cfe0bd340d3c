import { z } from "zod";
import { parseQuantity, quantitySchema } from "../quantity.ts";
import { APPS_V1, defineKind, unsupported } from "./meta.ts";
import { dns1123Subdomain, positiveInt } from "./names.ts";

/**
 * A HorizontalPodAutoscaler (autoscaling/v2): keeps a Deployment's or a
 * StatefulSet's replica count where its pods' CPU use meets a target. While
 * one targets a workload, the workload's `replicas` from Git is ignored and
 * the autoscaler's `status.desiredReplicas` is used instead.
 *
 * Only what capstan can measure is accepted: one Resource metric, cpu, as a
 * Utilization (percent of the pods' requests) or an AverageValue. Anything
 * else is refused with the reason, not dropped.
 */

export const AUTOSCALING_V2 = ["autoscaling/v2", "capstan.dev/v1"] as const;

export const scalableKinds = ["Deployment", "StatefulSet"] as const;

const scaleTargetRefSchema = z.strictObject({
  // Optional as in Kubernetes; when given it must be one that serves the kinds below.
  apiVersion: z
    .enum(APPS_V1, { error: (issue) => `apiVersion ${JSON.stringify(issue.input)} does not serve a scalable kind: use one of ${APPS_V1.join(", ")}` })
    .optional(),
  kind: z.enum(scalableKinds, {
    error: (issue) => `kind ${JSON.stringify(issue.input)} cannot be autoscaled: use one of ${scalableKinds.join(", ")}`,
  }),
  name: dns1123Subdomain(),
});

const metricTargetSchema = z
  .strictObject({
    type: z.enum(["Utilization", "AverageValue"], {
      error: (issue) =>
        issue.input === "Value"
          ? 'a Resource metric cannot use a "Value" target: use "Utilization" or "AverageValue"'
          : 'must be "Utilization" or "AverageValue"',
    }),
    averageUtilization: positiveInt.optional(),
    averageValue: quantitySchema.optional(),
  })
  .superRefine((target, ctx) => {
    // Each type reads exactly one field; the other would be silently ignored, so it is refused.
    const needed = target.type === "Utilization" ? "averageUtilization" : "averageValue";
    const other = target.type === "Utilization" ? "averageValue" : "averageUtilization";
    if (target[needed] === undefined) ctx.addIssue({ code: "custom", path: [needed], message: `is required when type is ${target.type}` });
    if (target[other] !== undefined) ctx.addIssue({ code: "custom", path: [other], message: `must not be set when type is ${target.type}` });
    if (target.averageValue !== undefined && parseQuantity(target.averageValue)! <= 0) {
      ctx.addIssue({ code: "custom", path: ["averageValue"], message: "must be greater than 0" });
    }
  });

const metricSpecSchema = z.strictObject({
  type: z.literal("Resource", {
    error: (issue) => `metric type ${JSON.stringify(issue.input)} is not supported: capstan measures only Resource (cpu) metrics`,
  }),
  resource: z.strictObject({
    name: z.literal("cpu", {
      error: (issue) => `resource ${JSON.stringify(issue.input)} is not supported: capstan autoscales on cpu only`,
    }),
    target: metricTargetSchema,
  }),
});
export type MetricSpec = z.infer<typeof metricSpecSchema>;

// Kubernetes caps a stabilization window at one hour.
const scalingRulesSchema = z.strictObject({
  stabilizationWindowSeconds: z.number().int("must be an integer").min(0, "must be greater than or equal to 0").max(3600, "must be less than or equal to 3600").optional(),
  policies: unsupported("scaling policies are not supported: capstan changes replicas in one step, held back only by stabilizationWindowSeconds"),
  selectPolicy: unsupported("selectPolicy is not supported: capstan has no scaling policies to select from"),
});

// Kubernetes' defaults: scale up at once, scale down on the highest recommendation of the last five minutes.
const behaviorSchema = z
  .strictObject({ scaleUp: scalingRulesSchema.optional(), scaleDown: scalingRulesSchema.optional() })
  .transform((behavior) => ({
    scaleUp: { stabilizationWindowSeconds: behavior.scaleUp?.stabilizationWindowSeconds ?? 0 },
    scaleDown: { stabilizationWindowSeconds: behavior.scaleDown?.stabilizationWindowSeconds ?? 300 },
  }));

/** Kubernetes' default when no metric is given: 80% of the CPU requested. */
const defaultMetrics: MetricSpec[] = [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } } }];

export const horizontalPodAutoscalerSpecSchema = z
  .strictObject({
    scaleTargetRef: scaleTargetRefSchema,
    minReplicas: positiveInt.default(1),
    maxReplicas: positiveInt,
    metrics: z
      .array(metricSpecSchema)
      .max(1, "capstan autoscales on one metric: give a single cpu Resource metric")
      .default(defaultMetrics)
      .transform((metrics) => (metrics.length === 0 ? defaultMetrics : metrics)),
    behavior: behaviorSchema.prefault({}),
  })
  .superRefine((spec, ctx) => {
    if (spec.maxReplicas < spec.minReplicas) {
      ctx.addIssue({ code: "custom", path: ["maxReplicas"], message: `must be greater than or equal to minReplicas (${spec.minReplicas})` });
    }
  });
export type HorizontalPodAutoscalerSpec = z.infer<typeof horizontalPodAutoscalerSpecSchema>;

export const horizontalPodAutoscalerKind = defineKind({
  kind: "HorizontalPodAutoscaler",
  apiVersions: AUTOSCALING_V2,
  namespaced: true,
  fields: { spec: horizontalPodAutoscalerSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type HorizontalPodAutoscaler = z.infer<typeof horizontalPodAutoscalerKind.schema>;
