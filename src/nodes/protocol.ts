import { z } from "zod";
import { formatFieldPath, podSpecSchema } from "../desired/index.ts";
import { dns1123Label, dns1123Subdomain } from "../desired/kinds/names.ts";

/**
 * The control plane ⇄ capstan-agent protocol (DESIGN.md, nodes).
 *
 * Framing: one JSON object per line (NDJSON) over any byte stream — an SSH
 * stream-local forward to the agent's unix socket, or the socket itself for the
 * local node. Frames are bounded by MAX_FRAME_BYTES; a longer line is a
 * protocol error, not an allocation.
 *
 * Level-triggered like a kubelet: `syncPods` always carries the WHOLE desired
 * pod set for the node with a generation, so a lost or repeated message is
 * harmless; the agent converges on the newest generation it has seen.
 * There is deliberately no `exec`.
 */

export const PROTOCOL_VERSION = 1;
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

// ---------------------------------------------------------------- pods

/** Everything an agent needs to run a pod without asking the store: the control plane resolves references first. */
export const agentPodSchema = z.strictObject({
  uid: z.string().min(1).max(64).regex(/^[A-Za-z0-9-]+$/, "must be letters, digits and '-'"),
  namespace: dns1123Label(),
  name: dns1123Subdomain(),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
  spec: podSpecSchema,
  /** The commit whose template this pod runs (shown in statuses, "which commit runs where"). */
  commitSha: z.string().optional(),
  /** Absolute directory a relative `workingDir` resolves against (the repository checkout on the node); default the pod's own directory. */
  workingDirBase: z.string().startsWith("/").optional(),
  /** ConfigMap `data` the pod refers to, by name (env, envFrom, volumes). */
  configMaps: z.record(z.string(), z.record(z.string(), z.string())).default({}),
  /** Their `binaryData`, base64, where they have some: volume files get the bytes; environment variables read `data` only, as the kubelet's do. */
  configMapBinaryData: z.record(z.string(), z.record(z.string(), z.string())).default({}),
  /** Secret data the pod refers to, by name; values base64 as in a Secret's `data`. Never logged. */
  secrets: z.record(z.string(), z.record(z.string(), z.string())).default({}),
});
export type AgentPod = z.infer<typeof agentPodSchema>;
export type AgentPodInput = z.input<typeof agentPodSchema>;

/**
 * A `syncPods` pod list as the agent reads it: each pod checked on its own
 * (a bad one is rejected with `path: message`, the rest still apply), and
 * duplicates of a uid or a namespace/name refused. Keyed by uid, in order.
 */
export function parsePodSet(input: readonly unknown[]): { pods: Map<string, AgentPod>; rejected: SyncPodsResult["rejected"] } {
  const rejected: SyncPodsResult["rejected"] = [];
  const pods = new Map<string, AgentPod>();
  const names = new Set<string>();
  input.forEach((raw, index) => {
    const parsed = agentPodSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = formatFieldPath(issue.path as (string | number)[]);
      const name = podName(raw);
      rejected.push({ index, ...(name !== undefined ? { name } : {}), reason: `${where ? `${where}: ` : ""}${issue.message}` });
      return;
    }
    const pod = parsed.data;
    const key = `${pod.namespace}/${pod.name}`;
    if (pods.has(pod.uid) || names.has(key)) {
      rejected.push({ index, name: key, reason: "duplicate pod uid or name in one syncPods" });
      return;
    }
    names.add(key);
    pods.set(pod.uid, pod);
  });
  return { pods, rejected };
}

function podName(raw: unknown): string | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const { namespace, name } = raw as { namespace?: unknown; name?: unknown };
  if (typeof name !== "string") return undefined;
  return typeof namespace === "string" ? `${namespace}/${name}` : name;
}

export const podPhaseSchema = z.enum(["Pending", "Running", "Succeeded", "Failed", "Unknown"]);
export type PodPhase = z.infer<typeof podPhaseSchema>;

const timestamp = z.string(); // ISO 8601

export const containerStateSchema = z.union([
  z.strictObject({ waiting: z.strictObject({ reason: z.string(), message: z.string().optional() }) }),
  z.strictObject({ running: z.strictObject({ startedAt: timestamp }) }),
  z.strictObject({
    terminated: z.strictObject({
      exitCode: z.number().int().nullable(),
      signal: z.string().optional(),
      reason: z.string(),
      message: z.string().optional(),
      startedAt: timestamp.optional(),
      finishedAt: timestamp,
    }),
  }),
]);
export type ContainerState = z.infer<typeof containerStateSchema>;

export const resourceUsageSchema = z.strictObject({
  /** CPU used since the last sample, in millicores. */
  cpuMillis: z.number().nonnegative(),
  /** Resident set size of the whole process group, in bytes. */
  rssBytes: z.number().int().nonnegative(),
});
export type ResourceUsage = z.infer<typeof resourceUsageSchema>;

export const containerStatusSchema = z.strictObject({
  name: z.string(),
  runtime: z.enum(["process", "docker", "podman"]),
  state: containerStateSchema,
  lastState: containerStateSchema.optional(),
  ready: z.boolean(),
  started: z.boolean(),
  restartCount: z.number().int().nonnegative(),
  /** Host port of each container port, keyed by port name (or the container port number when unnamed). */
  ports: z.record(z.string(), z.number().int()).default({}),
  pid: z.number().int().optional(),
  usage: resourceUsageSchema.optional(),
});
export type ContainerStatus = z.infer<typeof containerStatusSchema>;

export const podStatusSchema = z.strictObject({
  uid: z.string(),
  namespace: z.string(),
  name: z.string(),
  commitSha: z.string().optional(),
  phase: podPhaseSchema,
  ready: z.boolean(),
  reason: z.string().optional(),
  message: z.string().optional(),
  startTime: timestamp.optional(),
  initContainerStatuses: z.array(containerStatusSchema).default([]),
  containerStatuses: z.array(containerStatusSchema),
});
export type PodStatus = z.infer<typeof podStatusSchema>;

// ---------------------------------------------------------------- node

export const runtimeNameSchema = z.enum(["process", "docker", "podman"]);
export type RuntimeName = z.infer<typeof runtimeNameSchema>;

export const nodeInfoSchema = z.strictObject({
  protocolVersion: z.number().int(),
  agentVersion: z.string(),
  hostname: z.string(),
  /** /proc/sys/kernel/random/boot_id: changes when the host reboots. */
  bootId: z.string(),
  capacity: z.strictObject({ cpuMillis: z.number().int(), memoryBytes: z.number() }),
  runtimes: z.array(runtimeNameSchema),
  /** The newest syncPods generation the agent has applied (0 = none). */
  generation: z.number().int().nonnegative(),
  /** The newest syncServices generation the agent has applied (0 = none); absent from agents without Services. */
  servicesGeneration: z.number().int().nonnegative().optional(),
  stateDir: z.string(),
  /** Set while the agent cannot write its state (a full disk): its pods keep running, changes are not durable. */
  stateError: z.string().optional(),
});
export type NodeInfo = z.infer<typeof nodeInfoSchema>;

// ---------------------------------------------------------------- services

const portNumber = z.number().int().min(1).max(65535);

/** Where the agent's proxy connects for one ready pod: the pod's node address and its host port for the Service's targetPort. */
export const serviceEndpointSchema = z.strictObject({
  address: z.string().min(1),
  port: portNumber,
  /** `<namespace>/<pod name>`, for logs and statuses. */
  pod: z.string().optional(),
});
export type ServiceEndpoint = z.infer<typeof serviceEndpointSchema>;

/**
 * A Service as a node's agent needs it: for each service port, the ready
 * endpoints (already resolved from targetPort to host ports by the control
 * plane). The agent listens on its node address at `port` (and at
 * `nodePort` for NodePort Services) and forwards each TCP connection to an
 * endpoint round-robin; pods it starts get `<NAME>_SERVICE_HOST` (the node
 * address) and `<NAME>_SERVICE_PORT` for the Services of their namespace.
 * Headless Services (`clusterIP: None`) get no listener: their endpoints
 * are for discovery only.
 */
export const serviceRouteSchema = z.strictObject({
  namespace: dns1123Label(),
  name: dns1123Label(),
  headless: z.boolean().default(false),
  ports: z.array(
    z.strictObject({
      name: z.string().optional(),
      port: portNumber,
      nodePort: portNumber.optional(),
      endpoints: z.array(serviceEndpointSchema).max(10_000),
    }),
  ),
});
export type ServiceRoute = z.infer<typeof serviceRouteSchema>;

// ---------------------------------------------------------------- requests

export const helloParamsSchema = z.strictObject({
  protocolVersion: z.number().int(),
  client: z.string().optional(),
  /** The node as the control plane knows it: its name (spec.nodeName) and address (status.hostIP). */
  node: z.strictObject({ name: z.string(), address: z.string() }).optional(),
});
export const syncPodsParamsSchema = z.strictObject({
  generation: z.number().int().positive(),
  pods: z.array(z.unknown()).max(10_000),
});
export const syncPodsResultSchema = z.strictObject({
  generation: z.number().int(),
  /** Pods the agent refused (bad name, bad spec), with why; the rest are applied. */
  rejected: z.array(z.strictObject({ index: z.number().int(), name: z.string().optional(), reason: z.string() })),
  /** Set when the request was older than what the agent already has: nothing was changed. */
  stale: z.boolean().optional(),
});
export type SyncPodsResult = z.infer<typeof syncPodsResultSchema>;

/** The node's whole set of Services, level-triggered like syncPods (newest generation wins). */
export const syncServicesParamsSchema = z.strictObject({
  generation: z.number().int().positive(),
  services: z.array(serviceRouteSchema).max(10_000),
});
/**
 * A heartbeat's answer: the agent's state write error while there is one (a
 * full disk), so that it reaches the Node's status while the link stays up,
 * not only at the next hello.
 */
export const pingResultSchema = z.object({ stateError: z.string().optional() });
export type PingResult = z.infer<typeof pingResultSchema>;

export const syncServicesResultSchema = z.strictObject({
  generation: z.number().int(),
  /** Listeners the agent could not open (port taken, privileged port), with why; the other Services are served. */
  listenErrors: z.array(z.strictObject({ namespace: z.string(), name: z.string(), port: z.number().int(), reason: z.string() })).default([]),
  stale: z.boolean().optional(),
});
export type SyncServicesResult = z.infer<typeof syncServicesResultSchema>;

// ---------------------------------------------------------------- claims

/** A PersistentVolumeClaim's directory on a node: `<stateDir>/claims/<namespace>/<name>`. */
export const claimRefSchema = z.strictObject({ namespace: dns1123Label(), name: dns1123Subdomain() });
export type ClaimRef = z.infer<typeof claimRefSchema>;

/**
 * Removes the directories of deleted claims whose reclaim policy is Delete.
 * The agent refuses (`inUse`) a claim that a pod it runs still mounts, and
 * waits for pods being stopped first; a directory already gone counts as deleted.
 */
export const deleteClaimsParamsSchema = z.strictObject({ claims: z.array(claimRefSchema).max(1_000) });
export const deleteClaimsResultSchema = z.strictObject({
  deleted: z.array(claimRefSchema),
  inUse: z.array(claimRefSchema.extend({ pod: z.string() })),
});
export type DeleteClaimsResult = z.infer<typeof deleteClaimsResultSchema>;

export const logsParamsSchema = z.strictObject({
  namespace: z.string(),
  name: z.string(),
  container: z.string().optional(),
  tailLines: z.number().int().nonnegative().max(100_000).optional(),
  follow: z.boolean().default(false),
});
export type LogsParams = z.infer<typeof logsParamsSchema>;

export const requestSchema = z.discriminatedUnion("method", [
  z.strictObject({ id: z.number().int(), method: z.literal("hello"), params: helloParamsSchema }),
  z.strictObject({ id: z.number().int(), method: z.literal("ping"), params: z.strictObject({}).default({}) }),
  z.strictObject({ id: z.number().int(), method: z.literal("syncPods"), params: syncPodsParamsSchema }),
  z.strictObject({ id: z.number().int(), method: z.literal("syncServices"), params: syncServicesParamsSchema }),
  z.strictObject({ id: z.number().int(), method: z.literal("statuses"), params: z.strictObject({}).default({}) }),
  z.strictObject({ id: z.number().int(), method: z.literal("logs"), params: logsParamsSchema }),
  z.strictObject({ id: z.number().int(), method: z.literal("deleteClaims"), params: deleteClaimsParamsSchema }),
  /** Ends a following `logs` request. */
  z.strictObject({ id: z.number().int(), method: z.literal("cancel"), params: z.strictObject({ requestId: z.number().int() }) }),
]);
export type Request = z.infer<typeof requestSchema>;
export type Method = Request["method"];

export const errorBodySchema = z.strictObject({ code: z.string(), message: z.string() });
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const responseSchema = z.union([
  z.strictObject({ id: z.number().int(), result: z.unknown() }),
  z.strictObject({ id: z.number().int().nullable(), error: errorBodySchema }),
]);
export type Response = z.infer<typeof responseSchema>;

export const eventSchema = z.discriminatedUnion("event", [
  /** Pods whose status changed (or all of them, after `hello`); `removed` = uids the agent no longer has. */
  z.strictObject({
    event: z.literal("podStatus"),
    generation: z.number().int(),
    pods: z.array(podStatusSchema),
    removed: z.array(z.string()).default([]),
  }),
  z.strictObject({
    event: z.literal("log"),
    requestId: z.number().int(),
    container: z.string(),
    /** UTF-8 text, at most one frame's worth. */
    text: z.string(),
  }),
]);
export type AgentEvent = z.infer<typeof eventSchema>;

export const agentMessageSchema = z.union([responseSchema, eventSchema]);

/** Error codes the agent answers with. */
export const errorCodes = {
  badFrame: "BadFrame",
  badRequest: "BadRequest",
  unsupportedVersion: "UnsupportedVersion",
  notFound: "NotFound",
  internal: "Internal",
} as const;

/** One frame: JSON + "\n". */
export function encodeFrame(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Splits a byte stream into lines, refusing lines over `maxBytes` (the rest
 * of such a line is skipped and reported once as an oversize frame).
 */
export class FrameDecoder {
  #buffer = "";
  #skipping = false;
  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  /** Returns complete lines; `oversize` counts frames dropped for length. */
  push(chunk: string): { lines: string[]; oversize: number } {
    const lines: string[] = [];
    let oversize = 0;
    let data = this.#buffer + chunk;
    this.#buffer = "";
    for (;;) {
      const newline = data.indexOf("\n");
      if (newline === -1) break;
      const line = data.slice(0, newline);
      data = data.slice(newline + 1);
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      if (Buffer.byteLength(line) > this.maxBytes) {
        oversize += 1;
        continue;
      }
      if (line.trim() !== "") lines.push(line);
    }
    if (!this.#skipping && Buffer.byteLength(data) > this.maxBytes) {
      oversize += 1;
      this.#skipping = true;
      data = "";
    }
    if (!this.#skipping) this.#buffer = data;
    return { lines, oversize };
  }
}
