import type { StoredObject } from "../desired/index.ts";

/**
 * How many of the pods a ReplicaSet is about to create replace pods it had
 * and lost while its desired count stood still (deleted by hand, evicted from
 * a lost node, failed for good): drift that capstan repairs, as opposed to a
 * scale-up or a rollout, which come with a new generation. Pure.
 */
export function replacedPods(replicaSet: StoredObject, creates: number): number {
  if (creates === 0 || replicaSet.observedGeneration !== replicaSet.generation) return 0;
  const wanted = (replicaSet.spec as { replicas?: number }).replicas ?? 0;
  const hadActive = (replicaSet.status as { replicas?: number }).replicas ?? 0;
  const activeNow = wanted - creates;
  return Math.max(0, Math.min(creates, Math.min(hadActive, wanted) - activeNow));
}
