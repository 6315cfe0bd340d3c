import type { PodSpec, PodTemplateSpec, StatefulSetSpec, StoredObject, Volume, VolumeClaimTemplate } from "../desired/index.ts";
import { commitAnnotation } from "../nodes/index.ts";

/**
 * What makes a StatefulSet's pod itself (Kubernetes' stateful_set_utils.go):
 * its ordinal, its name `<set>-<ordinal>`, its host name and subdomain, and
 * its claims `<template>-<set>-<ordinal>`, which outlive it so that its
 * successor under the same name finds the same data.
 */

export const podNameLabel = "statefulset.kubernetes.io/pod-name";
export const podIndexLabel = "apps.kubernetes.io/pod-index";
/** The ControllerRevision a pod was made from (`<set>-<template hash>`). */
export const revisionLabel = "controller-revision-hash";
/** Kind of the objects that keep each template a StatefulSet has run, so that pods below a partition can be recreated from the old one. */
export const controllerRevisionKind = "ControllerRevision";

export function podName(setName: string, ordinal: number): string {
  return `${setName}-${ordinal}`;
}

/** The ordinal of a pod of this set, or null when its name is not `<set>-<canonical integer>`. */
export function ordinalOf(setName: string, podName: string): number | null {
  const prefix = `${setName}-`;
  if (!podName.startsWith(prefix)) return null;
  const rest = podName.slice(prefix.length);
  if (!/^(0|[1-9]\d{0,8})$/.test(rest)) return null;
  return Number(rest);
}

export function claimName(template: VolumeClaimTemplate, setName: string, ordinal: number): string {
  return `${template.metadata.name}-${setName}-${ordinal}`;
}

/** The ordinal a claim of this set's `template` was made for, or null when the name is another's. */
export function claimOrdinal(template: VolumeClaimTemplate, setName: string, name: string): number | null {
  const prefix = `${template.metadata.name}-`;
  return name.startsWith(prefix) ? ordinalOf(setName, name.slice(prefix.length)) : null;
}

export function revisionName(setName: string, hash: string): string {
  return `${setName}-${hash}`;
}

export function podRevision(pod: StoredObject): string | undefined {
  return pod.labels[revisionLabel];
}

export interface PodObject {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpec;
}

/**
 * The pod for one ordinal from one revision's template: the identity labels,
 * `hostname` = its name and `subdomain` = the governing Service (so that
 * `<pod>.<service>` can be published), and a persistentVolumeClaim volume per
 * claim template, replacing a template volume of the same name as Kubernetes does.
 */
export function statefulPod(
  set: StoredObject,
  ordinal: number,
  template: PodTemplateSpec,
  revision: string,
  commit: string | undefined,
): PodObject {
  const spec = set.spec as StatefulSetSpec;
  const name = podName(set.name, ordinal);
  const claimTemplates = spec.volumeClaimTemplates ?? [];
  const claimed = new Set(claimTemplates.map((claim) => claim.metadata.name));
  const volumes: Volume[] = [
    ...(template.spec.volumes ?? []).filter((volume) => !claimed.has(volume.name)),
    ...claimTemplates.map((claim) => ({
      name: claim.metadata.name,
      persistentVolumeClaim: { claimName: claimName(claim, set.name, ordinal), readOnly: false },
    })),
  ];
  return {
    name,
    labels: { ...template.metadata.labels, [podNameLabel]: name, [podIndexLabel]: String(ordinal), [revisionLabel]: revision },
    annotations: { ...template.metadata.annotations, ...(commit ? { [commitAnnotation]: commit } : {}) },
    spec: {
      ...template.spec,
      ...(volumes.length > 0 ? { volumes } : {}),
      hostname: name,
      ...(spec.serviceName ? { subdomain: spec.serviceName } : {}),
    },
  };
}

export interface ClaimObject {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
  /** Owned by the set when its retention policy deletes claims with it (the garbage collector then does). */
  ownerUid: string | null;
}

/** A claim from a claim template: the template's labels plus the set's selector labels, as Kubernetes' getPersistentVolumeClaims. */
export function statefulClaim(set: StoredObject, template: VolumeClaimTemplate, ordinal: number): ClaimObject {
  const spec = set.spec as StatefulSetSpec;
  return {
    name: claimName(template, set.name, ordinal),
    labels: { ...(template.metadata.labels ?? {}), ...(spec.selector.matchLabels ?? {}) },
    annotations: { ...(template.metadata.annotations ?? {}) },
    spec: { volumeMode: "Filesystem", ...template.spec },
    ownerUid: spec.persistentVolumeClaimRetentionPolicy.whenDeleted === "Delete" ? set.uid : null,
  };
}
