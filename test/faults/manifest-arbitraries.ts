/**
 * fast-check generators for manifests: valid objects of the common kinds,
 * and mutations of them that must be refused, each carrying the field path
 * the refusal has to name ("" when the file is not YAML any more).
 */
import fc from "fast-check";
import { stringify } from "yaml";

export type Manifest = Record<string, unknown>;
type Path = Array<string | number>;

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,18}[a-z0-9]$/);
const labelKey = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
const labelValue = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const labels = fc.dictionary(labelKey, labelValue, { minKeys: 1, maxKeys: 3 });
const portName = fc.stringMatching(/^[a-z]{1,10}$/);
const envName = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/);

const container = fc.record({
  name,
  command: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
  env: fc.uniqueArray(fc.record({ name: envName, value: fc.string({ maxLength: 20 }) }), {
    selector: (entry) => entry.name,
    maxLength: 3,
  }),
  ports: fc.uniqueArray(fc.record({ name: portName, containerPort: fc.integer({ min: 1, max: 65535 }) }), {
    selector: (port) => port.name,
    maxLength: 2,
  }),
});

const podSpec = (restartPolicies: string[]) =>
  fc.record({
    restartPolicy: fc.constantFrom(...restartPolicies),
    containers: fc.array(container, { minLength: 1, maxLength: 2 }).map((containers) =>
      // Container names and port names are unique within a pod.
      containers.map((entry, index) => ({
        ...entry,
        name: `${entry.name}-${index}`,
        ports: entry.ports.map((port) => ({ ...port, name: `${port.name.slice(0, 10)}${index}` })),
      })),
    ),
  });

const meta = (extra: Manifest = {}) => fc.record({ name, labels }).map((metadata) => ({ ...metadata, ...extra }));

const deployment = fc.record({ metadata: meta(), labels, replicas: fc.integer({ min: 0, max: 50 }), pod: podSpec(["Always"]) }).map(
  ({ metadata, labels: podLabels, replicas, pod }) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata,
    spec: { replicas, selector: { matchLabels: podLabels }, template: { metadata: { labels: podLabels }, spec: pod } },
  }),
);

const job = fc.record({ metadata: meta(), backoffLimit: fc.integer({ min: 0, max: 10 }), pod: podSpec(["Never", "OnFailure"]) }).map(
  ({ metadata, backoffLimit, pod }) => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata,
    spec: { backoffLimit, template: { spec: pod } },
  }),
);

const cronJob = fc
  .record({ metadata: meta(), schedule: fc.constantFrom("* * * * *", "*/5 * * * *", "0 3 * * 1", "@hourly"), pod: podSpec(["Never", "OnFailure"]) })
  .map(({ metadata, schedule, pod }) => ({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata,
    spec: { schedule, jobTemplate: { spec: { template: { spec: pod } } } },
  }));

const service = fc
  .record({
    metadata: meta(),
    selector: labels,
    ports: fc.uniqueArray(fc.record({ name: portName, port: fc.integer({ min: 1, max: 65535 }) }), {
      selector: (port) => port.port,
      minLength: 1,
      maxLength: 3,
    }),
  })
  .map(({ metadata, selector, ports }) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata,
    spec: { selector, ports: ports.map((port, index) => ({ ...port, name: `${port.name}-${index}` })) },
  }));

const configKey = fc.stringMatching(/^[a-zA-Z0-9][-._a-zA-Z0-9]{0,12}$/);
const configMap = fc.record({ metadata: meta(), data: fc.dictionary(configKey, fc.string({ maxLength: 40 }), { maxKeys: 4 }) }).map(
  ({ metadata, data }) => ({ apiVersion: "v1", kind: "ConfigMap", metadata, data }),
);
const secret = fc.record({ metadata: meta(), stringData: fc.dictionary(configKey, fc.string({ maxLength: 40 }), { maxKeys: 4 }) }).map(
  ({ metadata, stringData }) => ({ apiVersion: "v1", kind: "Secret", metadata, stringData }),
);
const namespace = fc.record({ name }).map(({ name: namespaceName }) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespaceName } }));

export const validManifest: fc.Arbitrary<Manifest> = fc.oneof(deployment, job, cronJob, service, configMap, secret, namespace);

/** Maps whose keys are the user's (labels, data): a new key there is not an unknown field. */
const freeFormKeys = new Set(["labels", "annotations", "matchLabels", "selector", "data", "stringData"]);

interface Node {
  path: Path;
  value: unknown;
}

function walk(value: unknown, path: Path = [], into: Node[] = []): Node[] {
  into.push({ path, value });
  if (Array.isArray(value)) value.forEach((item, index) => walk(item, [...path, index], into));
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) walk(item, [...path, key], into);
  }
  return into;
}

function setAt(root: Manifest, path: Path, value: unknown): Manifest {
  const copy = structuredClone(root);
  let node = copy as Record<string | number, unknown>;
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

/** `spec.template.spec.containers[0].name`, as the validator formats paths. */
export function formatPath(path: Path): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += text ? `.${segment}` : segment;
  }
  return text;
}

export interface Mutation {
  kind: "wrongType" | "unknownField" | "missingRequired" | "badName" | "outOfRange";
  manifest: Manifest;
  /** The refusal must name this field (or one inside it). */
  path: string;
}

const wrongValueFor = (value: unknown): unknown[] =>
  typeof value === "string" ? [42, true, { nested: 1 }] : typeof value === "number" ? ["many", false, [1]] : Array.isArray(value) ? ["text", 7] : ["text", 7, [1]];

/** Fields every manifest of that kind must have. */
const requiredPaths: Record<string, Path[]> = {
  Deployment: [["metadata"], ["metadata", "name"], ["spec", "template", "spec", "containers"], ["spec", "selector"]],
  Job: [["metadata", "name"], ["spec", "template", "spec", "containers"], ["spec", "template"]],
  CronJob: [["metadata", "name"], ["spec", "schedule"], ["spec", "jobTemplate"]],
  Service: [["metadata", "name"], ["spec", "ports", 0, "port"]],
  ConfigMap: [["metadata"], ["metadata", "name"]],
  Secret: [["metadata", "name"]],
  Namespace: [["metadata", "name"]],
};

const outOfRange: Record<string, Array<{ path: Path; values: unknown[] }>> = {
  Deployment: [
    { path: ["spec", "replicas"], values: [-1, 1.5, 2 ** 53] },
    { path: ["spec", "template", "spec", "restartPolicy"], values: ["Never", "Sometimes"] },
  ],
  Job: [{ path: ["spec", "backoffLimit"], values: [-3, 0.5] }],
  CronJob: [{ path: ["spec", "schedule"], values: ["61 * * * *", "* * *", "every minute"] }],
  Service: [{ path: ["spec", "ports", 0, "port"], values: [0, 65536, -80, 3.5] }],
};

const badNames = ["", "Bad_Name", "../../etc", "a/b", "x".repeat(300), "-lead", "trail-", "UPPER", "dot..dot", "sp ace", "é"];

/** One mutation of a valid manifest that every correct validator refuses. */
export function mutation(manifest: Manifest): fc.Arbitrary<Mutation> {
  const kind = manifest.kind as string;
  const nodes = walk(manifest).filter(({ path }) => path.length > 0 && path[0] !== "kind" && path[0] !== "apiVersion");
  const leaves = nodes.filter(({ path, value }) => {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return false;
    // The items of a free-form map are the user's strings; the map itself may still get a wrong type.
    return !path.slice(0, -1).some((segment) => typeof segment === "string" && freeFormKeys.has(segment)) || typeof value !== "string";
  });
  const objects = nodes.filter(
    ({ path, value }) =>
      typeof value === "object" && value !== null && !Array.isArray(value) && !freeFormKeys.has(String(path.at(-1))),
  );
  const options: Array<fc.Arbitrary<Mutation>> = [
    fc.constantFrom(...leaves).chain(({ path, value }) =>
      fc.constantFrom(...wrongValueFor(value)).map((wrong) => ({ kind: "wrongType" as const, manifest: setAt(manifest, path, wrong), path: formatPath(path) })),
    ),
    fc.tuple(fc.constantFrom(...objects), fc.stringMatching(/^[a-z][a-zA-Z]{0,10}$/)).map(([{ path }, key]) => ({
      kind: "unknownField" as const,
      manifest: setAt(manifest, [...path, `zz${key}`], "surprise"),
      path: formatPath([...path, `zz${key}`]),
    })),
    fc.constantFrom(...(requiredPaths[kind] ?? [])).map((path) => ({
      kind: "missingRequired" as const,
      manifest: setAt(manifest, path, undefined),
      path: formatPath(path),
    })),
    fc.constantFrom(...badNames).map((bad) => ({
      kind: "badName" as const,
      manifest: setAt(manifest, ["metadata", "name"], bad),
      path: "metadata.name",
    })),
  ];
  const ranges = outOfRange[kind];
  if (ranges) {
    options.push(
      fc.constantFrom(...ranges).chain(({ path, values }) =>
        fc.constantFrom(...values).map((value) => ({ kind: "outOfRange" as const, manifest: setAt(manifest, path, value), path: formatPath(path) })),
      ),
    );
  }
  return fc.oneof(...options);
}

/** YAML or JSON (which is YAML): both are accepted manifest files. */
export function serialize(manifest: Manifest, asJson: boolean): string {
  return asJson ? JSON.stringify(manifest, null, 2) : stringify(manifest);
}

/**
 * Text that stops being YAML: an unterminated quote or flow collection
 * inserted at column 0 of a line, which no surrounding text can close.
 */
export const yamlBreakage = fc.record({
  line: fc.nat(),
  junk: fc.constantFrom('zz: "unterminated', "zz: [1, 2", "{ a: 1", "zz: 'open", "]]] :", "zz: *", "key: : :\n\t- tab"),
});

export function breakYaml(text: string, { line, junk }: { line: number; junk: string }): string {
  const lines = text.split("\n");
  lines.splice(line % (lines.length + 1), 0, junk);
  return lines.join("\n");
}
