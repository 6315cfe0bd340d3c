import { finalizersField, type StoredObject } from "../../desired/index.ts";

/**
 * Graceful deletion for pods whose identity must never run twice (a
 * StatefulSet's): such a pod is created with this finalizer in its status,
 * so that once deleted it is kept, and seen by its controller as
 * terminating, until the node link has seen its processes end. Only then is
 * it purged and may its successor be made. A pod on a node that cannot be
 * reached stays terminating until the node returns (or is removed from
 * Git), as Kubernetes keeps a StatefulSet pod on a lost node until the node
 * is known to be gone.
 */
export const podTerminationFinalizer = "capstan.dev/pod-termination";

export function holdsFinalizer(object: StoredObject, finalizer: string): boolean {
  const finalizers = (object.status as Record<string, unknown>)[finalizersField];
  return Array.isArray(finalizers) && finalizers.includes(finalizer);
}

/** What the node link knows of one node: is it connected, which pods did it last acknowledge, which does it still report. */
export interface NodeView {
  connected: boolean;
  /** The uids of the last pod set the agent acknowledged; undefined before any acknowledgement. */
  acknowledged: ReadonlySet<string> | undefined;
  /** The uids of pod sets sent but not yet acknowledged: the agent may be starting them. */
  inFlight: ReadonlySet<string>;
  /** The uids the agent still reports (running, or being stopped). */
  reported: ReadonlySet<string>;
}

/**
 * The deleted pods holding the finalizer whose processes are known to be
 * gone: never bound, bound to a node that no longer exists, or on a connected
 * node whose agent has acknowledged a pod set without them and no longer
 * reports them (nor was it in a pod set still on its way).
 */
export function terminatedPods(deleted: readonly StoredObject[], nodes: ReadonlyMap<string, NodeView>): StoredObject[] {
  return deleted.filter((pod) => {
    if (!holdsFinalizer(pod, podTerminationFinalizer)) return false;
    const nodeName = (pod.spec as { nodeName?: string }).nodeName;
    if (!nodeName) return true;
    const view = nodes.get(nodeName);
    if (!view) return true;
    return (
      view.connected &&
      view.acknowledged !== undefined &&
      !view.acknowledged.has(pod.uid) &&
      !view.inFlight.has(pod.uid) &&
      !view.reported.has(pod.uid)
    );
  });
}
