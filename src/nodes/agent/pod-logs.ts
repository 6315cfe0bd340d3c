import { join } from "node:path";
import type { AgentPod, LogsParams } from "../protocol.ts";
import { AgentNotFoundError } from "./errors.ts";
import { followLog, readTail } from "./logs.ts";

/**
 * Log text of a container of one of `pods`: the tail, then (with follow)
 * whatever it appends until `signal` aborts. The container may be left out
 * when the pod has one; a name not on this node is an AgentNotFoundError.
 */
export async function podLogs(
  pods: readonly AgentPod[],
  podDir: (uid: string) => string,
  params: LogsParams,
  onText: (container: string, text: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const pod = pods.find((candidate) => candidate.namespace === params.namespace && candidate.name === params.name);
  if (!pod) throw new AgentNotFoundError(`pod ${params.namespace}/${params.name} is not on this node`);
  const names = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((container) => container.name);
  const container = params.container ?? (pod.spec.containers.length === 1 ? pod.spec.containers[0]!.name : undefined);
  if (!container) {
    throw new AgentNotFoundError(`pod ${params.namespace}/${params.name} has several containers: choose one of ${names.join(", ")}`);
  }
  if (!names.includes(container)) throw new AgentNotFoundError(`container ${container} is not in pod ${params.namespace}/${params.name}`);
  const path = join(podDir(pod.uid), "logs", `${container}.log`);
  const tail = await readTail(path, params.tailLines ?? (params.follow ? 10 : 1000), { maxFiles: 5 });
  if (tail) onText(container, tail);
  if (params.follow) await followLog(path, (text) => onText(container, text), signal, { fromEnd: true });
}
