import { z } from "zod";
import { checkExactlyOne } from "./one-of.ts";
import { nonNegativeInt, portNumberOrNameSchema, positiveInt } from "./names.ts";

/** Probes and lifecycle hooks: how the agent checks a process and what it runs around its start and stop. */

const httpGetActionSchema = z.strictObject({
  path: z.string().refine((path) => path.startsWith("/"), "must start with '/'").default("/"),
  port: portNumberOrNameSchema,
  host: z.string().min(1).optional(),
  scheme: z.enum(["HTTP", "HTTPS"]).default("HTTP"),
});

const tcpSocketActionSchema = z.strictObject({
  port: portNumberOrNameSchema,
  host: z.string().min(1).optional(),
});

const execActionSchema = z.strictObject({
  command: z.array(z.string()).min(1, "must name a command to run"),
});

const sleepActionSchema = z.strictObject({
  seconds: nonNegativeInt,
});

const probeHandlers = ["httpGet", "tcpSocket", "exec"] as const;

export const probeSchema = z
  .strictObject({
    httpGet: httpGetActionSchema.optional(),
    tcpSocket: tcpSocketActionSchema.optional(),
    exec: execActionSchema.optional(),
    initialDelaySeconds: nonNegativeInt.default(0),
    periodSeconds: positiveInt.default(10),
    timeoutSeconds: positiveInt.default(1),
    successThreshold: positiveInt.default(1),
    failureThreshold: positiveInt.default(3),
  })
  .superRefine((probe, ctx) => {
    checkExactlyOne(probe, probeHandlers, "handler type", ctx);
  });
export type Probe = z.infer<typeof probeSchema>;

const lifecycleHandlers = ["exec", "httpGet", "sleep"] as const;

const lifecycleHandlerSchema = z
  .strictObject({
    exec: execActionSchema.optional(),
    httpGet: httpGetActionSchema.optional(),
    sleep: sleepActionSchema.optional(),
  })
  .superRefine((handler, ctx) => {
    checkExactlyOne(handler, lifecycleHandlers, "handler type", ctx);
  });

export const lifecycleSchema = z.strictObject({
  postStart: lifecycleHandlerSchema.optional(),
  preStop: lifecycleHandlerSchema.optional(),
});
export type Lifecycle = z.infer<typeof lifecycleSchema>;
