import { createHash } from "node:crypto";
import { canonicalJson } from "../desired/index.ts";

/**
 * The label a Deployment adds to each of its ReplicaSets' selector and pod
 * template, so that ReplicaSets of one Deployment never select each other's
 * pods. Its value is also the suffix of the ReplicaSet's name.
 */
export const podTemplateHashLabel = "pod-template-hash";

/**
 * A short, stable, DNS-safe hash of a pod template (as written in the
 * Deployment, without the hash label). `collisionCount` is Kubernetes'
 * `status.collisionCount`: when a ReplicaSet with the hashed name already
 * exists for a different template, the Deployment counts up and hashes again.
 * Ten hex characters keep `<deployment>-<hash>-<pod suffix>` short while
 * making a collision within one Deployment's history (~1 in 10^12) a
 * curiosity rather than an event.
 */
export function podTemplateHash(template: unknown, collisionCount = 0): string {
  const hash = createHash("sha256").update(canonicalJson(template));
  if (collisionCount > 0) hash.update(`\0${collisionCount}`);
  return hash.digest("hex").slice(0, 10);
}

export function replicaSetName(deploymentName: string, hash: string): string {
  return `${deploymentName}-${hash}`;
}
