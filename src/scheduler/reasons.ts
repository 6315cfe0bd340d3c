/**
 * The Kubernetes-style summary of why nodes were turned down:
 * "0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}."
 * Most common reason first, then by name, so the same picture reads the same way every time.
 */
export function describeReasons(reasons: Readonly<Record<string, number>>, total: number): string {
  const entries = sortedReasons(reasons);
  const rejected = entries.reduce((sum, [, count]) => sum + count, 0);
  const head = `${Math.max(0, total - rejected)}/${total} nodes are available`;
  return entries.length === 0 ? `${head}.` : `${head}: ${entries.map(([reason, count]) => `${count} ${reason}`).join(", ")}.`;
}

export function sortedReasons(reasons: Readonly<Record<string, number>> | ReadonlyMap<string, number>): [string, number][] {
  const entries = reasons instanceof Map ? [...reasons] : Object.entries(reasons);
  return entries.sort(([reasonA, countA], [reasonB, countB]) => countB - countA || (reasonA < reasonB ? -1 : reasonA > reasonB ? 1 : 0));
}
