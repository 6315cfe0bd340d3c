import type { Logger } from "pino";
import type { DesiredStore, StoredObject } from "../../desired/index.ts";
import { messageOf } from "../../errors.ts";
import { planClaimReclaim } from "./claim-reclaim.ts";
import type { NodeClient } from "./node-client.ts";
import { holdsFinalizer, podTerminationFinalizer, terminatedPods, type NodeView } from "./pod-termination.ts";

export interface FinishDeletionsInput {
  store: DesiredStore;
  log: Logger;
  /** Live pods and nodes, as the node link just read them. */
  pods: readonly StoredObject[];
  nodes: readonly StoredObject[];
  /** Each linked node's client, the uids of the last pod set its agent acknowledged, and those sent since. */
  links: readonly { node: string; client: NodeClient; acknowledged: ReadonlySet<string> | undefined; inFlight: ReadonlySet<string> }[];
}

/**
 * The node link's part in deletions that wait for a node (finalizers):
 * pods whose processes are now known to be gone are purged (their
 * StatefulSet may then make their successor), and deleted claims have their
 * directories removed where the reclaim policy says so, then are purged.
 * Returns whether something is still waiting, so that the caller looks again
 * soon: a pod's processes ending or an agent coming back changes nothing in
 * the store.
 */
export async function finishDeletions(input: FinishDeletionsInput): Promise<{ waiting: boolean }> {
  const { store, log } = input;
  const links = new Map<string, NodeView & { client: NodeClient }>(
    input.links.map(({ node, client, acknowledged, inFlight }) => [
      node,
      { client, acknowledged, inFlight, connected: client.state().connected, reported: new Set(client.statuses().map((status) => status.uid)) },
    ]),
  );
  const [deletedPods, deletedClaims, liveClaims] = await Promise.all([
    store.listObjects({ kind: "Pod", deleted: true }),
    store.listObjects({ kind: "PersistentVolumeClaim", deleted: true }),
    store.listObjects({ kind: "PersistentVolumeClaim" }),
  ]);

  const terminating = deletedPods.filter((pod) => holdsFinalizer(pod, podTerminationFinalizer));
  const terminated = terminatedPods(terminating, links);
  for (const pod of terminated) await store.purgeObject(pod.uid);
  const gone = new Set(terminated.map((pod) => pod.uid));
  const stillTerminating = terminating.filter((pod) => !gone.has(pod.uid));

  // A pod still stopping may still write to its claim: it counts as mounting it.
  const plan = planClaimReclaim({
    deleted: deletedClaims,
    live: liveClaims,
    pods: [...input.pods, ...stillTerminating],
    nodes: new Set(input.nodes.map((node) => node.name)),
  });
  for (const claim of plan.purge) await store.purgeObject(claim.uid);
  let waiting = stillTerminating.length > 0 || plan.waiting > 0;
  for (const { claim, ref, nodes } of plan.remove) {
    let removed = 0;
    for (const node of nodes) {
      const link = links.get(node);
      if (!link?.connected) continue;
      const result = await link.client.deleteClaims([ref]).catch((error: unknown) => {
        log.warn({ node, claim: `${ref.namespace}/${ref.name}`, err: messageOf(error) }, "could not remove a deleted claim's directory; retrying");
        return undefined;
      });
      if (result?.deleted.length === 1) removed += 1;
    }
    if (removed === nodes.length) {
      await store.purgeObject(claim.uid);
      log.info({ claim: `${ref.namespace}/${ref.name}`, nodes }, "deleted claim's directory removed (reclaim policy Delete)");
    } else waiting = true;
  }
  return { waiting };
}
