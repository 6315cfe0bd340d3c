import { z } from "zod";
import { containerStateSchema } from "../protocol.ts";
import { containerRecordSchema } from "./runtime/types.ts";

/**
 * What the agent persists about a pod it runs, beside the pod itself: enough
 * to re-adopt its processes after an agent restart and to keep restart counts
 * and host ports stable for the pod's lifetime (as a pod's IP and ports are in
 * Kubernetes).
 */
export const containerRunRecordSchema = z.strictObject({
  /** The live instance, when one was started and not yet seen to end. */
  current: containerRecordSchema.optional(),
  restartCount: z.number().int().nonnegative().default(0),
  lastState: containerStateSchema.optional(),
  /** A run-to-completion container (init container, or restartPolicy Never/OnFailure) that finished with exit 0. */
  succeeded: z.boolean().default(false),
});
export type ContainerRunRecord = z.infer<typeof containerRunRecordSchema>;

export const podRecordSchema = z.strictObject({
  uid: z.string(),
  /** Host port per container port key (`<container>/<port name or number>`), chosen once per pod. */
  hostPorts: z.record(z.string(), z.number().int()).default({}),
  containers: z.record(z.string(), containerRunRecordSchema).default({}),
  startTime: z.string().optional(),
});
export type PodRecord = z.infer<typeof podRecordSchema>;
