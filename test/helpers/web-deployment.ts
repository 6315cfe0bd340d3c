/**
 * The workload of the end-to-end and fault tests (and bench/converge.ts): a
 * Deployment `web` of a one-line Node HTTP server that answers its VERSION,
 * so a test can tell which version every pod and every route serves.
 */

/** The server each container runs (`node -e`): answers every request with $VERSION, on $PORT. */
export const versionServer = "require('http').createServer((q, s) => s.end(process.env.VERSION)).listen(process.env.PORT, '127.0.0.1')";

export interface WebDeploymentOptions {
  version: string;
  replicas?: number;
  /** Written as the strategy's rollingUpdate (e.g. `{ maxSurge: 1, maxUnavailable: 1 }`); unset: Kubernetes' defaults. */
  rollingUpdate?: { maxSurge: number | string; maxUnavailable: number | string };
  progressDeadlineSeconds?: number;
  annotations?: Record<string, string>;
  terminationGracePeriodSeconds?: number;
  /** `http`: GET / every second (default); `never`: a probe that never passes, so a rollout stalls; `none`: ready = started. */
  readiness?: "http" | "never" | "none";
}

const probes = {
  http: "{ httpGet: { path: /, port: http }, periodSeconds: 1 }",
  never: `{ exec: { command: ["false"] }, periodSeconds: 1 }`,
} as const;

export function webDeployment(options: WebDeploymentOptions): string {
  const { version, replicas = 3, readiness = "http", terminationGracePeriodSeconds = 2 } = options;
  const lines = ["apiVersion: apps/v1", "kind: Deployment", "metadata:", "  name: web"];
  if (options.annotations) lines.push(`  annotations: ${JSON.stringify(options.annotations)}`);
  lines.push("spec:", `  replicas: ${replicas}`);
  if (options.progressDeadlineSeconds !== undefined) lines.push(`  progressDeadlineSeconds: ${options.progressDeadlineSeconds}`);
  if (options.rollingUpdate) {
    const { maxSurge, maxUnavailable } = options.rollingUpdate;
    lines.push("  strategy:", "    type: RollingUpdate", `    rollingUpdate: { maxSurge: ${JSON.stringify(maxSurge)}, maxUnavailable: ${JSON.stringify(maxUnavailable)} }`);
  }
  lines.push(
    "  selector:",
    "    matchLabels: { app: web }",
    "  template:",
    "    metadata:",
    "      labels: { app: web }",
    "    spec:",
    `      terminationGracePeriodSeconds: ${terminationGracePeriodSeconds}`,
    "      containers:",
    "        - name: web",
    `          command: [${JSON.stringify(process.execPath)}, "-e", ${JSON.stringify(versionServer)}]`,
    `          env: [{ name: VERSION, value: ${JSON.stringify(version)} }]`,
    "          ports: [{ name: http, containerPort: 8080 }]",
  );
  if (readiness !== "none") lines.push(`          readinessProbe: ${probes[readiness]}`);
  return `${lines.join("\n")}\n`;
}
