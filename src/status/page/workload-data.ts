import { messageOf } from "../../errors.ts";
import type { DesiredStore, PodSpec, RolloutLog } from "../../desired/index.ts";
import type { LogSource } from "../nodes-api.ts";
import type { PodDetail } from "../pod-detail.ts";
import { workloadDetail, type WorkloadDetail, type WorkloadKey } from "../workload-detail.ts";

/**
 * A workload's detail page: the same data as GET /api/workloads/… (one
 * function, workloadDetail), plus what only the page shows: the template's
 * containers with their env var names, and each pod's log tail.
 */

export type LogTail = { available: true; text: string } | { available: false; why: string };

/**
 * An env var as the page may show it: its name and where its value comes
 * from, never the value (a literal can hold a password as easily as a
 * Secret can).
 */
export interface EnvView {
  name: string;
  from: string;
}
export interface ContainerView {
  name: string;
  run: string;
  env: EnvView[];
}

export interface WorkloadPageData {
  detail: WorkloadDetail;
  containers: ContainerView[];
  /** By pod name. */
  logs: Map<string, LogTail>;
}

export interface WorkloadSources {
  store: DesiredStore;
  rollouts?: RolloutLog;
  logs?: LogSource;
  logTimeoutMs: number;
  logLines: number;
}

/** Throws NotFoundError for a kind that is not a workload or a workload that does not exist. */
export async function loadWorkloadPage(sources: WorkloadSources, key: WorkloadKey): Promise<WorkloadPageData> {
  const detail = await workloadDetail(sources.store, sources.rollouts, key);
  const [object, tails] = await Promise.all([sources.store.getObject(key), Promise.all(detail.pods.map((pod) => logTail(sources, pod)))]);
  return {
    detail,
    containers: object ? containersOf(object.spec) : [],
    logs: new Map(detail.pods.map((pod, index) => [pod.name, tails[index]!])),
  };
}

function containersOf(spec: Record<string, unknown>): ContainerView[] {
  const template = (spec as { template?: { spec?: PodSpec } }).template?.spec;
  return (template?.containers ?? []).map((container) => ({
    name: container.name,
    run: container.image ?? [...(container.command ?? []), ...(container.args ?? [])].join(" "),
    env: (container.env ?? []).map((variable) => ({ name: variable.name, from: envSource(variable) })),
  }));
}

type EnvVar = NonNullable<PodSpec["containers"][number]["env"]>[number];

function envSource(variable: EnvVar): string {
  const from = variable.valueFrom;
  if (from?.secretKeyRef) return `Secret ${from.secretKeyRef.name} (key ${from.secretKeyRef.key}, value hidden)`;
  if (from?.configMapKeyRef) return `ConfigMap ${from.configMapKeyRef.name} (key ${from.configMapKeyRef.key})`;
  if (from?.fieldRef) return `field ${from.fieldRef.fieldPath}`;
  return "set in the manifest (value hidden)";
}

/** The last lines of a pod's logs, or why there are none: a slow or gone node must not hold the page up or fail it. */
async function logTail(sources: WorkloadSources, pod: PodDetail): Promise<LogTail> {
  if (!sources.logs) return { available: false, why: "logs are served by the control plane that runs the node links" };
  if (!pod.node) return { available: false, why: "the pod is not on a node yet" };
  const abort = new AbortController();
  let text = "";
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${sources.logTimeoutMs} ms`)), sources.logTimeoutMs);
  });
  try {
    await Promise.race([
      sources.logs.logs({ namespace: pod.namespace, name: pod.name, tailLines: sources.logLines, follow: false }, (_container, chunk) => (text += chunk), abort.signal),
      timeout,
    ]);
    return { available: true, text: text.slice(-16_000) };
  } catch (error) {
    return { available: false, why: `logs unavailable: ${messageOf(error)}` };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
