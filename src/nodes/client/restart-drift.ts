import type { PodStatus } from "../protocol.ts";

/**
 * A container that exited and was started again by its agent is drift that
 * capstan repaired (DESIGN.md: recorded as an event). Pure: which restarts are
 * new since the counts last seen, with what ended the previous run. A pod seen
 * for the first time only sets its baseline: restarts from before this
 * control plane started are not news.
 */
export interface RestartRepair {
  uid: string;
  namespace: string;
  name: string;
  message: string;
}

export function newRestarts(seen: Map<string, Map<string, number>>, statuses: readonly PodStatus[], node: string): RestartRepair[] {
  const repairs: RestartRepair[] = [];
  for (const pod of statuses) {
    const counts = seen.get(pod.uid);
    const next = new Map(pod.containerStatuses.map((container) => [container.name, container.restartCount]));
    seen.set(pod.uid, next);
    if (!counts) continue;
    for (const container of pod.containerStatuses) {
      const before = counts.get(container.name);
      if (before === undefined || container.restartCount <= before) continue;
      const ended = container.lastState && "terminated" in container.lastState ? container.lastState.terminated : undefined;
      const why = ended ? (ended.signal ? `was killed by ${ended.signal}` : `exited with code ${ended.exitCode ?? "unknown"}`) : "stopped";
      repairs.push({
        uid: pod.uid,
        namespace: pod.namespace,
        name: pod.name,
        message: `container ${container.name} ${why} and was restarted on node ${node} (restart ${container.restartCount})`,
      });
    }
  }
  return repairs;
}
