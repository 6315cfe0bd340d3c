import { z } from "zod";
import { quantitySchema } from "../quantity.ts";
import { CORE_V1, defineKind } from "./meta.ts";
import { dns1123Subdomain } from "./names.ts";

/**
 * A PersistentVolumeClaim: a directory on one node's disk
 * (`<agent state dir>/claims/<namespace>/<name>`) that outlives the pods
 * using it, provisioned as Rancher's local-path provisioner does: the claim
 * is bound to the node where the first pod using it is scheduled, and later
 * pods using it fit only that node. The size request is recorded, not
 * enforced (a directory has no quota).
 *
 * Two annotations stand in for what Kubernetes puts on a PersistentVolume
 * and a StorageClass:
 *
 *   capstan.dev/reclaim-policy: Delete | Retain
 *     What happens to the directory when the claim is deleted. Delete (the
 *     default, as the local-path provisioner's StorageClass) removes it from
 *     its node once no pod uses it; Retain keeps it on disk for an operator.
 *   capstan.dev/relocatable: "true"
 *     The data may be recreated elsewhere (a cache): the claim does not pin
 *     its pods to a node, and a pod on another node starts with whatever
 *     that node's directory holds.
 */

export const reclaimPolicyAnnotation = "capstan.dev/reclaim-policy";
export const relocatableAnnotation = "capstan.dev/relocatable";
export const reclaimPolicies = ["Delete", "Retain"] as const;
export type ReclaimPolicy = (typeof reclaimPolicies)[number];

export const persistentVolumeClaimSpecSchema = z.strictObject({
  accessModes: z
    .array(z.enum(["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]))
    .min(1, "at least 1 access mode is required"),
  resources: z.strictObject({
    requests: z.strictObject({ storage: quantitySchema }),
  }),
  storageClassName: dns1123Subdomain().optional(),
  volumeMode: z.literal("Filesystem", { error: 'only "Filesystem" is supported: a claim is a directory' }).default("Filesystem"),
});
export type PersistentVolumeClaimSpec = z.infer<typeof persistentVolumeClaimSpecSchema>;

/** The annotations' values, checked where claims are written (Git, or a StatefulSet's claim template). */
export function checkClaimAnnotations(annotations: Record<string, string> | undefined, ctx: z.RefinementCtx, at: (string | number)[]): void {
  const policy = annotations?.[reclaimPolicyAnnotation];
  if (policy !== undefined && !(reclaimPolicies as readonly string[]).includes(policy)) {
    ctx.addIssue({ code: "custom", path: [...at, reclaimPolicyAnnotation], message: `must be "Delete" or "Retain", not ${JSON.stringify(policy)}` });
  }
  const relocatable = annotations?.[relocatableAnnotation];
  if (relocatable !== undefined && relocatable !== "true" && relocatable !== "false") {
    ctx.addIssue({ code: "custom", path: [...at, relocatableAnnotation], message: `must be "true" or "false", not ${JSON.stringify(relocatable)}` });
  }
}

export function reclaimPolicyOf(annotations: Record<string, string>): ReclaimPolicy {
  return annotations[reclaimPolicyAnnotation] === "Retain" ? "Retain" : "Delete";
}

export function isRelocatable(annotations: Record<string, string>): boolean {
  return annotations[relocatableAnnotation] === "true";
}

export const persistentVolumeClaimKind = defineKind({
  kind: "PersistentVolumeClaim",
  apiVersions: CORE_V1,
  namespaced: true,
  fields: { spec: persistentVolumeClaimSpecSchema },
  check: (manifest, ctx) => checkClaimAnnotations(manifest.metadata.annotations, ctx, ["metadata", "annotations"]),
  specOf: (manifest) => manifest.spec,
});
export type PersistentVolumeClaim = z.infer<typeof persistentVolumeClaimKind.schema>;
