import { z } from "zod";
import { NotFoundError } from "../errors.ts";
import { storedEventSchema, type DesiredStore } from "../desired/index.ts";
import { recentEventsOf } from "./events.ts";
import { nodeListSchema, nodeSummary } from "./nodes.ts";
import { conditionSchema, conditionsOf, podDetail, podDetailSchema } from "./pod-detail.ts";

/** Response shape of GET /api/nodes/:name: everything the node's detail page shows. */
export const nodeDetailSchema = z.object({
  node: nodeListSchema.shape.items.element,
  conditions: z.array(conditionSchema),
  /** The pods bound to it (finished ones too, which hold nothing), by namespace and name. */
  pods: z.array(podDetailSchema),
  /** Events about the node, newest first (at most 20). */
  events: z.array(storedEventSchema),
});
export type NodeDetail = z.infer<typeof nodeDetailSchema>;

/** One node, as its detail page and GET /api/nodes/:name show it; NotFoundError (404) for an unknown one. */
export async function nodeDetail(store: DesiredStore, name: string): Promise<NodeDetail> {
  const node = await store.getObject({ kind: "Node", namespace: "", name });
  if (!node) throw new NotFoundError(`no node ${name}`);
  const [pods, events] = await Promise.all([store.listObjects({ kind: "Pod" }), recentEventsOf(store, [node])]);
  return {
    node: nodeSummary(node, pods),
    conditions: conditionsOf(node),
    pods: pods.filter((pod) => (pod.spec as { nodeName?: string }).nodeName === name).map(podDetail),
    events,
  };
}
