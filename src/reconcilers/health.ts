/**
 * Health of a workload, as one ordered union (house style 6): every kind
 * computes its own, and an aggregate (a namespace, the whole page) is the
 * worst of its parts.
 *
 * The order, best first, and why:
 * - Healthy: nothing to do.
 * - Suspended: deliberately stopped by its owner (a paused Deployment, a
 *   suspended CronJob). Not broken, and not moving on its own, so it ranks
 *   just above "working on it": an aggregate of a paused and a rolling
 *   workload should say Progressing, which is the more informative word.
 *   This is Argo CD's order (gitops-engine health.IsWorse).
 * - Progressing: moving towards its desired state and expected to get there.
 * - Degraded: failed to get there (a progress deadline passed, pods not
 *   available after a rollout finished).
 * - Missing: nothing exists yet that could run at all. Argo CD ranks Missing
 *   below Degraded because it is often a moment before creation; capstan's
 *   DESIGN.md ranks it worse — degraded is "some of it runs", missing is
 *   "none of it does" — and the design document wins.
 * - Unknown: we cannot vouch for it (its node is unreachable, its status has
 *   never been reported). Worst, because it could be any of the above.
 */
export const healthStates = ["Healthy", "Suspended", "Progressing", "Degraded", "Missing", "Unknown"] as const;
export type Health = (typeof healthStates)[number];

const rank = new Map<Health, number>(healthStates.map((health, index) => [health, index]));

/** The worse of two health states. */
export function worse(a: Health, b: Health): Health {
  return rank.get(b)! > rank.get(a)! ? b : a;
}

/** The worst of a list; an empty list is Healthy (nothing is wrong with nothing). */
export function worst(list: Iterable<Health>): Health {
  let result: Health = "Healthy";
  for (const health of list) result = worse(result, health);
  return result;
}
