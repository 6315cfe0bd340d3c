import type { Container } from "../../desired/index.ts";
import { envVarNameSchema } from "../../desired/kinds/names.ts";
import type { AgentPod } from "../protocol.ts";
import { PodConfigError } from "./errors.ts";
import { hostPortKey } from "./ports.ts";

/**
 * A container's environment and argv, built the way the kubelet builds them
 * (makeEnvironmentVariables), lowest precedence first:
 *
 *   1. the base environment (a host process needs PATH to find `node`),
 *   2. the Service discovery variables (<SVC>_SERVICE_HOST...; service-routes.ts),
 *   3. the host port variables PORT, PORT_<NAME>, PORT_<containerPort>,
 *   4. `envFrom`, source by source (a later source overrides an earlier one),
 *   5. `env`, in order, each `value` `$(VAR)`-expanded against what is defined so far.
 *
 * Then command + args, each expanded against the final environment.
 * Pure: the pod carries its ConfigMap and Secret data, nothing is read from disk.
 */

export interface ContainerEnvInput {
  pod: AgentPod;
  container: Container;
  /** Host port of every container port, keyed by hostPortKey (see ports.ts). */
  hostPorts: Record<string, number>;
  hostIP: string;
  nodeName: string;
  /** Default: PATH, HOME, LANG and TZ of the agent's own environment, where set. */
  baseEnv?: Record<string, string>;
  /** Service discovery variables; anything the manifest or the port variables define wins over them, as in the kubelet. */
  serviceEnv?: Record<string, string>;
}

/** The agent's variables a host process inherits. Everything else of the agent's environment stays private. */
const inheritedVariables = ["PATH", "HOME", "LANG", "TZ"] as const;

export function buildContainerEnv(input: ContainerEnvInput): { env: Record<string, string>; argv: string[] } {
  const { pod, container } = input;
  // No prototype: a variable named `__proto__` is a valid name and must be an ordinary key.
  const env: Record<string, string> = Object.assign(Object.create(null), input.baseEnv ?? defaultBaseEnv());
  Object.assign(env, input.serviceEnv);
  Object.assign(env, portVariables(container, input.hostPorts));

  for (const source of container.envFrom ?? []) {
    const data = source.configMapRef
      ? configMapData(pod, source.configMapRef.name, source.configMapRef.optional)
      : secretData(pod, source.secretRef!.name, source.secretRef!.optional);
    if (data === undefined) continue;
    for (const [key, value] of Object.entries(data)) {
      const name = `${source.prefix ?? ""}${key}`;
      // The kubelet skips such keys (and records an event) rather than failing the pod.
      if (!isEnvVarName(name)) continue;
      env[name] = value;
    }
  }

  const lookup = (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);
  for (const variable of container.env ?? []) {
    if (variable.value) {
      env[variable.name] = expandVariables(variable.value, lookup);
      continue;
    }
    const source = variable.valueFrom;
    if (!source) {
      env[variable.name] = "";
      continue;
    }
    let value: string | undefined;
    if (source.fieldRef) {
      value = fieldValue(source.fieldRef.fieldPath, pod, { hostIP: input.hostIP, nodeName: input.nodeName });
    } else if (source.configMapKeyRef) {
      const { name, key, optional } = source.configMapKeyRef;
      value = keyValue(configMapData(pod, name, optional), key, optional, `ConfigMap ${pod.namespace}/${name}`);
    } else if (source.secretKeyRef) {
      const { name, key, optional } = source.secretKeyRef;
      value = keyValue(secretData(pod, name, optional), key, optional, `Secret ${pod.namespace}/${name}`);
    }
    // An optional reference that resolves to nothing leaves the variable unset, like the kubelet.
    if (value !== undefined) env[variable.name] = value;
  }

  const command = container.command ?? [];
  const args = container.args ?? [];
  // Without a command a host process has nothing to run; with an image, args alone go to the image's entrypoint.
  const argv = command.length === 0 && container.image === undefined ? [] : [...command, ...args];
  return { env, argv: argv.map((word) => expandVariables(word, lookup)) };
}

function defaultBaseEnv(): Record<string, string> {
  const base: Record<string, string> = {};
  for (const name of inheritedVariables) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return base;
}

/** PORT (the first declared port), PORT_<NAME> for named ports, PORT_<containerPort> for the others; values are host ports. */
function portVariables(container: Container, hostPorts: Record<string, number>): Record<string, string> {
  const variables: Record<string, string> = {};
  (container.ports ?? []).forEach((port, index) => {
    const key = hostPortKey(container.name, port);
    const hostPort = hostPorts[key] ?? port.hostPort;
    if (hostPort === undefined) throw new Error(`no host port allocated for ${key}`);
    if (index === 0) variables.PORT = String(hostPort);
    const suffix = port.name === undefined ? String(port.containerPort) : port.name.toUpperCase().replaceAll("-", "_");
    variables[`PORT_${suffix}`] = String(hostPort);
  });
  return variables;
}

function isEnvVarName(name: string): boolean {
  return envVarNameSchema.safeParse(name).success;
}

/** A ConfigMap's data; undefined when it is missing and optional, an error when it is missing and required. */
function configMapData(pod: AgentPod, name: string, optional: boolean | undefined): Record<string, string> | undefined {
  const data = pod.configMaps[name];
  if (data !== undefined) return data;
  if (optional) return undefined;
  throw new PodConfigError("CreateContainerConfigError", `configmap "${name}" not found`);
}

/** A Secret's data, base64-decoded; undefined when it is missing and optional. */
function secretData(pod: AgentPod, name: string, optional: boolean | undefined): Record<string, string> | undefined {
  const data = pod.secrets[name];
  if (data === undefined) {
    if (optional) return undefined;
    throw new PodConfigError("CreateContainerConfigError", `secret "${name}" not found`);
  }
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, "base64").toString("utf8")]));
}

function keyValue(
  data: Record<string, string> | undefined,
  key: string,
  optional: boolean | undefined,
  source: string,
): string | undefined {
  if (data === undefined) return undefined;
  if (Object.hasOwn(data, key)) return data[key];
  if (optional) return undefined;
  throw new PodConfigError("CreateContainerConfigError", `couldn't find key ${key} in ${source}`);
}

const subscriptedPath = /^metadata\.(labels|annotations)\['([^']+)'\]$/;

/**
 * The downward API value of a pod metadata field (metadata.name, .namespace,
 * .uid, .labels['k'], .annotations['k']; a missing label is ""), or
 * undefined when `fieldPath` is not a metadata field. Shared with volumes.
 */
export function metadataFieldValue(fieldPath: string, pod: AgentPod): string | undefined {
  const subscripted = subscriptedPath.exec(fieldPath);
  if (subscripted) {
    const map = subscripted[1] === "labels" ? pod.labels : pod.annotations;
    return Object.hasOwn(map, subscripted[2]!) ? map[subscripted[2]!] : "";
  }
  switch (fieldPath) {
    case "metadata.name":
      return pod.name;
    case "metadata.namespace":
      return pod.namespace;
    case "metadata.uid":
      return pod.uid;
    default:
      return undefined;
  }
}

/** A fieldRef for an environment variable. A host process shares the node's network, so status.podIP is the host's address. */
function fieldValue(fieldPath: string, pod: AgentPod, node: { hostIP: string; nodeName: string }): string {
  const metadata = metadataFieldValue(fieldPath, pod);
  if (metadata !== undefined) return metadata;
  switch (fieldPath) {
    case "spec.nodeName":
      return node.nodeName;
    case "status.hostIP":
    case "status.podIP":
      return node.hostIP;
    default:
      throw new PodConfigError("CreateContainerConfigError", `unsupported fieldPath ${fieldPath}`);
  }
}

/**
 * Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion):
 * `$(VAR)` of a defined variable is its value; of an undefined one it stays
 * `$(VAR)`; `$$` is a literal `$` (so `$$(VAR)` is a literal `$(VAR)`); any
 * other `$`, and an unclosed `$(`, are kept as they are.
 */
export function expandVariables(text: string, lookup: (name: string) => string | undefined): string {
  let result = "";
  let checkpoint = 0;
  for (let cursor = 0; cursor < text.length; cursor++) {
    if (text[cursor] !== "$" || cursor + 1 >= text.length) continue;
    result += text.slice(checkpoint, cursor);
    const next = text[cursor + 1];
    if (next === "$") {
      result += "$";
      cursor += 1;
    } else if (next === "(") {
      const closer = text.indexOf(")", cursor + 2);
      if (closer === -1) {
        result += "$(";
        cursor += 1;
      } else {
        const name = text.slice(cursor + 2, closer);
        result += lookup(name) ?? `$(${name})`;
        cursor = closer;
      }
    } else {
      result += `$${next}`;
      cursor += 1;
    }
    checkpoint = cursor + 1;
  }
  return result + text.slice(checkpoint);
}
