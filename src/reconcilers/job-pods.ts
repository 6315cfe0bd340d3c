import { z } from "zod";
import type { PodTemplateSpec, StoredObject } from "../desired/index.ts";

/**
 * What the Job controller reads from and writes into its pods: Kubernetes'
 * job labels, the completion index, and the facts of a run-to-completion pod
 * as the agent reports them (phase, restarts, when it finished).
 */

export const jobNameLabel = "batch.kubernetes.io/job-name";
export const controllerUidLabel = "batch.kubernetes.io/controller-uid";
export const completionIndexAnnotation = "batch.kubernetes.io/job-completion-index";
export const completionIndexEnv = "JOB_COMPLETION_INDEX";

const terminatedSchema = z.object({ finishedAt: z.string().optional() });
const containerStatusSchema = z.object({
  restartCount: z.number().catch(0),
  state: z.object({ terminated: terminatedSchema.optional() }).catch({}),
});
/** Read leniently: a pod nobody has reported on yet is Pending with no restarts. */
const jobPodStatusSchema = z.object({
  phase: z.enum(["Pending", "Running", "Succeeded", "Failed", "Unknown"]).catch("Pending"),
  containerStatuses: z.array(containerStatusSchema).catch([]),
  initContainerStatuses: z.array(containerStatusSchema).catch([]),
});

export interface JobPodFacts {
  pod: StoredObject;
  phase: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
  finished: boolean;
  /** Not finished and not being deleted: counts as active, as Kubernetes' IsPodActive. */
  active: boolean;
  /** Restarts of every container summed, as Kubernetes' pastBackoffLimitOnFailure counts them. */
  restarts: number;
  /** When it finished: its last container's finishedAt, else the time its status was last written. */
  finishedAt: Date | null;
  /** The completion index of an Indexed Job's pod; null when absent or malformed. */
  index: number | null;
}

export function jobPodFacts(pod: StoredObject): JobPodFacts {
  const status = jobPodStatusSchema.parse(pod.status);
  const containers = [...status.containerStatuses, ...status.initContainerStatuses];
  const finished = status.phase === "Succeeded" || status.phase === "Failed";
  const finishTimes = containers.map((c) => Date.parse(c.state.terminated?.finishedAt ?? "")).filter(Number.isFinite);
  const rawIndex = pod.annotations[completionIndexAnnotation];
  const index = rawIndex !== undefined && /^\d+$/.test(rawIndex) ? Number(rawIndex) : null;
  return {
    pod,
    phase: status.phase,
    finished,
    active: !finished && pod.deletedAt === null,
    restarts: containers.reduce((sum, c) => sum + c.restartCount, 0),
    finishedAt: finished ? (finishTimes.length > 0 ? new Date(Math.max(...finishTimes)) : pod.updatedAt) : null,
    index,
  };
}

/**
 * The pod template a Job's pod runs: the Job's labels added, and for an
 * Indexed Job its index as a label, an annotation, and JOB_COMPLETION_INDEX
 * in every container read from that annotation, as Kubernetes does it.
 */
export function jobPodTemplate(job: StoredObject, template: PodTemplateSpec, index: number | null): PodTemplateSpec {
  const labels: Record<string, string> = {
    ...template.metadata.labels,
    [jobNameLabel]: job.name,
    "job-name": job.name,
    [controllerUidLabel]: job.uid,
    "controller-uid": job.uid,
  };
  if (index === null) return { ...template, metadata: { ...template.metadata, labels } };
  labels[completionIndexAnnotation] = String(index);
  const indexEnv = {
    name: completionIndexEnv,
    valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${completionIndexAnnotation}']` } },
  };
  const withIndex = <T extends { env?: unknown[] | undefined }>(container: T): T => ({
    ...container,
    env: [...(container.env ?? []).filter((v) => (v as { name: string }).name !== completionIndexEnv), indexEnv],
  });
  const spec = template.spec;
  return {
    metadata: { ...template.metadata, labels, annotations: { ...template.metadata.annotations, [completionIndexAnnotation]: String(index) } },
    spec: {
      ...spec,
      containers: spec.containers.map(withIndex),
      ...(spec.initContainers ? { initContainers: spec.initContainers.map(withIndex) } : {}),
    } as PodTemplateSpec["spec"],
  };
}

/** Kubernetes' compressed interval list of completed indexes: [0,1,2,4,6,7] → "0-2,4,6-7". */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j += 1;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
