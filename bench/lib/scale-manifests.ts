/**
 * The repository of bench/scale.ts: `objects` manifests in one commit,
 * made of 4 Namespaces (one file), `nodes` Nodes, `deployments`
 * Deployments whose replicas add up to `pods`, and ConfigMaps for the rest,
 * 25 files per directory as bench/sync.ts nests them.
 */
export interface ScaleShape {
  objects: number;
  nodes: number;
  deployments: number;
  pods: number;
}

export const scaleNamespaces = ["alpha", "beta", "gamma", "delta"];

export function configMapCount(shape: ScaleShape): number {
  return shape.objects - scaleNamespaces.length - shape.nodes - shape.deployments;
}

export function* scaleManifests(shape: ScaleShape): Generator<[string, string]> {
  if (configMapCount(shape) < 1) throw new Error(`${shape.objects} objects cannot hold ${shape.nodes} nodes and ${shape.deployments} deployments`);
  yield ["namespaces.yaml", scaleNamespaces.map((name) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`).join("---\n")];
  for (let index = 0; index < shape.nodes; index++) yield [`nodes/${Math.floor(index / 25)}/node-${index}.yaml`, nodeManifest(index)];
  for (let index = 0; index < shape.deployments; index++) {
    const namespace = scaleNamespaces[index % scaleNamespaces.length]!;
    // The remainder goes to the first ones, so that the replicas add up to exactly `pods`.
    const replicas = Math.floor(shape.pods / shape.deployments) + (index < shape.pods % shape.deployments ? 1 : 0);
    yield [`apps/${namespace}/${Math.floor(index / 25)}/app-${index}.yaml`, deploymentManifest(namespace, `app-${index}`, replicas)];
  }
  for (let index = 0; index < configMapCount(shape); index++) yield [configMapPath(index), configMapManifest(index, "initial")];
}

export function configMapPath(index: number): string {
  const namespace = scaleNamespaces[index % scaleNamespaces.length]!;
  return `config/${namespace}/team-${Math.floor(index / 400) % 25}/${Math.floor(index / 25)}/config-${index}.yaml`;
}

export function configMapManifest(index: number, value: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-${index}
  namespace: ${scaleNamespaces[index % scaleNamespaces.length]}
  labels:
    app.kubernetes.io/part-of: bench
data:
  value: "${value}"
  settings.json: |
    {"retries": 3, "timeoutMs": 2500, "feature": true}
`;
}

/** A local-transport Node `node-<index>` in one of three zones. */
export function nodeManifest(index: number): string {
  return `apiVersion: capstan.dev/v1
kind: Node
metadata:
  name: node-${index}
  labels: { zone: zone-${index % 3} }
spec:
  transport: local
  address: 127.0.0.1
`;
}

/** A Deployment of a small-request pod, as the scale and reconcile benches spread them over namespaces. */
export function deploymentManifest(namespace: string, name: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
  labels: { app.kubernetes.io/part-of: bench }
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: web
          command: ["node", "server.js"]
          env: [{ name: MODE, value: production }]
          ports: [{ name: http, containerPort: 8080 }]
          resources: { requests: { cpu: 10m, memory: 16Mi } }
`;
}
