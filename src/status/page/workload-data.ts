import { messageOf } from "../../errors.ts";
import type { DesiredStore, HistoryEntry, PodSpec, RolloutLog, StoredEvent, StoredObject } from "../../desired/index.ts";
import type { LogSource } from "../nodes-api.ts";
import { workloadSummaries, type WorkloadSummary } from "../workloads.ts";

/** Kinds with a detail page: those with pods of their own and a rollout. */
export const workloadKinds = ["Deployment", "DaemonSet", "StatefulSet"] as const;

interface ContainerStateView {
  waiting?: { reason?: string; message?: string };
  terminated?: { reason?: string; message?: string; exitCode?: number | null; finishedAt?: string };
}
interface ContainerStatusView {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: ContainerStateView;
  lastState?: ContainerStateView;
}
interface PodStatusView {
  phase?: string;
  ready?: boolean;
  reason?: string;
  message?: string;
  initContainerStatuses?: ContainerStatusView[];
  containerStatuses?: ContainerStatusView[];
}

export interface PodRow {
  namespace: string;
  name: string;
  node: string | null;
  phase: string;
  ready: boolean;
  restarts: number;
  /** The pod's or a container's latest trouble, as "Reason: message", or null. */
  lastError: string | null;
  commit: string | null;
  createdAt: Date;
  logs: LogTail;
}

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

export interface WorkloadDetail {
  object: StoredObject;
  summary: WorkloadSummary | null;
  containers: ContainerView[];
  pods: PodRow[];
  history: HistoryEntry[];
  events: StoredEvent[];
}

export interface WorkloadSources {
  store: DesiredStore;
  rollouts?: RolloutLog;
  logs?: LogSource;
  logTimeoutMs: number;
  logLines: number;
}

export async function loadWorkload(sources: WorkloadSources, key: { kind: string; namespace: string; name: string }): Promise<WorkloadDetail | null> {
  const { store, rollouts } = sources;
  if (!(workloadKinds as readonly string[]).includes(key.kind)) return null;
  const object = await store.getObject(key);
  if (!object) return null;
  const [summaries, pods, history, events] = await Promise.all([
    workloadSummaries(store),
    ownedPods(store, object),
    rollouts ? rollouts.history({ limit: 10, workload: key }) : Promise.resolve([]),
    store.listEvents({ ...key, limit: 30 }),
  ]);
  return {
    object,
    summary: summaries.find((summary) => summary.kind === key.kind && summary.namespace === key.namespace && summary.name === key.name) ?? null,
    containers: containersOf(object),
    pods: await Promise.all(pods.map((pod) => podRow(sources, pod))),
    history,
    events,
  };
}

/** A Deployment's pods belong to its ReplicaSets; a DaemonSet's and a StatefulSet's to it directly. */
async function ownedPods(store: DesiredStore, object: StoredObject): Promise<StoredObject[]> {
  const owners = new Set([object.uid]);
  if (object.kind === "Deployment") {
    for (const replicaSet of await store.listObjects({ kind: "ReplicaSet", ownerUid: object.uid })) owners.add(replicaSet.uid);
  }
  const pods = await store.listObjects({ kind: "Pod", namespace: object.namespace });
  return pods.filter((pod) => pod.ownerUid !== null && owners.has(pod.ownerUid));
}

function containersOf(object: StoredObject): ContainerView[] {
  const template = (object.spec as { template?: { spec?: PodSpec } }).template?.spec;
  return (template?.containers ?? []).map((container) => ({
    name: container.name,
    run: container.image ?? [...(container.command ?? []), ...(container.args ?? [])].join(" "),
    env: (container.env ?? []).map((variable) => ({ name: variable.name, from: envSource(variable) })),
  }));
}

function envSource(variable: { value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }): string {
  const from = variable.valueFrom;
  if (from?.secretKeyRef) return `Secret ${from.secretKeyRef.name} (key ${from.secretKeyRef.key}, value hidden)`;
  if (from?.configMapKeyRef) return `ConfigMap ${from.configMapKeyRef.name} (key ${from.configMapKeyRef.key})`;
  if (from?.fieldRef) return `field ${from.fieldRef.fieldPath}`;
  return "set in the manifest (value hidden)";
}

async function podRow(sources: WorkloadSources, pod: StoredObject): Promise<PodRow> {
  const status = pod.status as PodStatusView;
  const containers = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
  return {
    namespace: pod.namespace,
    name: pod.name,
    node: (pod.spec as { nodeName?: string }).nodeName ?? null,
    phase: status.phase ?? "Pending",
    ready: status.ready ?? false,
    restarts: containers.reduce((sum, container) => sum + (container.restartCount ?? 0), 0),
    lastError: lastError(status, containers),
    commit: pod.annotations["capstan.dev/commit"] ?? pod.revisionSha ?? null,
    createdAt: pod.createdAt,
    logs: await logTail(sources, pod),
  };
}

function lastError(status: PodStatusView, containers: ContainerStatusView[]): string | null {
  const said = (reason: string | undefined, message: string | undefined, who?: string) =>
    reason || message ? `${who ? `${who}: ` : ""}${[reason, message].filter(Boolean).join(": ")}` : null;
  if (status.reason && status.phase !== "Running") return said(status.reason, status.message);
  for (const container of containers) {
    const waiting = container.state?.waiting;
    if (waiting && waiting.reason !== "ContainerCreating" && waiting.reason !== "PodInitializing") return said(waiting.reason, waiting.message, container.name);
    const terminated = container.state?.terminated ?? container.lastState?.terminated;
    if (terminated && terminated.exitCode !== 0) {
      return said(terminated.reason, terminated.message ?? (terminated.exitCode !== null && terminated.exitCode !== undefined ? `exit code ${terminated.exitCode}` : undefined), container.name);
    }
  }
  return null;
}

/** The last lines of a pod's logs, or why there are none: a slow or gone node must not hold the page up or fail it. */
async function logTail(sources: WorkloadSources, pod: StoredObject): Promise<LogTail> {
  if (!sources.logs) return { available: false, why: "logs are served by the control plane that runs the node links" };
  if (!(pod.spec as { nodeName?: string }).nodeName) return { available: false, why: "the pod is not on a node yet" };
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
