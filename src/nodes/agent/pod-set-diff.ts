import { specHash } from "../../desired/index.ts";
import type { AgentPod } from "../protocol.ts";

export interface PodSetChanges {
  /** Removed, or replaced by a changed spec under the same uid. */
  toStop: AgentPod[];
  /** New, or the replacement of a changed one. */
  toStart: AgentPod[];
  /** The same pod with new ConfigMap/Secret data: updated in place, not restarted. */
  configChanged: AgentPod[];
}

/**
 * What a new desired pod set changes on the node, by uid. Pods are
 * immutable, as in Kubernetes: a changed spec under the same uid is a
 * replacement. New ConfigMap/Secret data alone is not: the controllers roll
 * pods for that (config-hash annotation), one at a time; restarting every
 * user of a Secret here at once would be an outage.
 */
export function diffPodSets(current: ReadonlyMap<string, AgentPod>, desired: ReadonlyMap<string, AgentPod>): PodSetChanges {
  const toStop = [...current.values()].filter((pod) => {
    const next = desired.get(pod.uid);
    return !next || podIdentity(next) !== podIdentity(pod);
  });
  const toStart = [...desired.values()].filter((pod) => {
    const previous = current.get(pod.uid);
    return !previous || podIdentity(previous) !== podIdentity(pod);
  });
  const configChanged = [...desired.values()].filter((pod) => {
    const previous = current.get(pod.uid);
    return previous !== undefined && podIdentity(previous) === podIdentity(pod) && configIdentity(previous) !== configIdentity(pod);
  });
  return { toStop, toStart, configChanged };
}

/** What makes a pod itself: its spec, labels, annotations and working-dir base; not the config data resolved into it. */
export function podIdentity(pod: AgentPod): string {
  return specHash({ spec: pod.spec, labels: pod.labels, annotations: pod.annotations, workingDirBase: pod.workingDirBase ?? null });
}

/** The ConfigMap and Secret data resolved into a pod. */
function configIdentity(pod: AgentPod): string {
  return specHash({ configMaps: pod.configMaps, configMapBinaryData: pod.configMapBinaryData, secrets: pod.secrets });
}
