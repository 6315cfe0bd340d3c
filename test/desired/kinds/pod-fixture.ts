/** One Pod that uses nearly every pod-spec feature, shared by the pod and container tests. */
export const pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web-0", namespace: "shop", labels: { app: "web" }, annotations: { "capstan.dev/note": "by hand" } },
  spec: {
    initContainers: [
      { name: "migrate", command: ["node", "app/migrate.js"] },
      // restartPolicy Always on an init container makes it a sidecar, which may be probed.
      {
        name: "log-tail",
        command: ["tail", "-F", "/var/log/web.log"],
        restartPolicy: "Always",
        startupProbe: { exec: { command: ["true"] } },
      },
    ],
    containers: [
      {
        name: "web",
        command: ["node"],
        args: ["app/web.js"],
        workingDir: ".",
        env: [
          { name: "MODE", value: "production" },
          { name: "API_TOKEN", valueFrom: { secretKeyRef: { name: "web-secrets", key: "token" } } },
          { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "TEAM", valueFrom: { fieldRef: { fieldPath: "metadata.labels['team']" } } },
        ],
        envFrom: [{ configMapRef: { name: "web-config" }, prefix: "CFG_" }],
        ports: [
          { name: "http", containerPort: 8080 },
          { name: "metrics", containerPort: 9100, hostPort: 9100 },
        ],
        livenessProbe: { tcpSocket: { port: "http" }, failureThreshold: 5 },
        readinessProbe: { httpGet: { port: 8080 } },
        lifecycle: { preStop: { sleep: { seconds: 5 } }, postStart: { httpGet: { path: "/warm", port: "http" } } },
        volumeMounts: [
          { name: "cache", mountPath: "/tmp/cache" },
          { name: "config", mountPath: "/etc/web", readOnly: true },
          { name: "data", mountPath: "/var/lib/web", subPath: "web" },
        ],
        resources: { requests: { cpu: 0.25, memory: "64Mi" } },
      },
    ],
    volumes: [
      { name: "cache", emptyDir: {} },
      { name: "config", configMap: { name: "web-config", items: [{ key: "app.json", path: "app.json" }] } },
      { name: "data", hostPath: { path: "/srv/web" } },
      {
        name: "bundle",
        projected: {
          sources: [
            { secret: { name: "web-secrets" } },
            { downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels['app']" } }] } },
          ],
        },
      },
    ],
    nodeSelector: { disk: "ssd" },
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: "cores", operator: "Gt", values: ["1"] }] }],
        },
      },
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 50, podAffinityTerm: { labelSelector: { matchLabels: { app: "web" } }, topologyKey: "kubernetes.io/hostname" } },
        ],
      },
    },
    tolerations: [
      { key: "dedicated", value: "web", effect: "NoSchedule" },
      { key: "flaky", operator: "Exists", effect: "NoExecute", tolerationSeconds: 60 },
    ],
    hostAliases: [{ ip: "10.0.0.5", hostnames: ["db.internal"] }],
  },
};
