import { describe, expect, it } from "vitest";
import { podSpecSchema } from "../../../src/desired/kinds/index.ts";
import { accept, expectIssue, variant, type InvalidCase } from "./expect.ts";

const pod = {
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

describe("Pod", () => {
  it("is accepted with the Kubernetes defaults applied", () => {
    const parsed = accept("Pod", pod);
    expect(parsed.spec).toMatchObject({ restartPolicy: "Always", terminationGracePeriodSeconds: 30 });
    const web = parsed.spec.containers[0];
    expect(web.livenessProbe).toMatchObject({ periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 5 });
    expect(web.readinessProbe.httpGet).toEqual({ path: "/", port: 8080, scheme: "HTTP" });
    expect(web.resources.requests).toEqual({ cpu: "0.25", memory: "64Mi" });
    expect(parsed.spec.volumes[0]).toEqual({ name: "cache", emptyDir: { medium: "" } });
    expect(parsed.spec.volumes[1].configMap).toMatchObject({ defaultMode: 0o644, optional: false });
    expect(parsed.spec.volumes[2].hostPath).toEqual({ path: "/srv/web", type: "" });
    expect(parsed.spec.tolerations[0].operator).toBe("Equal");
    expect(parsed.metadata).toEqual(pod.metadata);
  });

  it("defaults labels and annotations to empty maps", () => {
    const parsed = accept("Pod", variant(pod, (p) => (p.metadata = { name: "bare" })));
    expect(parsed.metadata).toEqual({ name: "bare", labels: {}, annotations: {} });
  });

  const containerAt = (index: number, field: string) => ["spec", "containers", index, field];
  const invalid: InvalidCase[] = [
    {
      name: "an unknown field in a container",
      manifest: variant(pod, (p) => (p.spec.containers[0].portz = [])),
      path: ["spec", "containers", 0],
      message: /Unrecognized key: "portz"/,
    },
    {
      name: "an apps/v1 apiVersion",
      manifest: variant(pod, (p) => (p.apiVersion = "apps/v1")),
      path: ["apiVersion"],
      message: /does not serve kind Pod: use one of v1, capstan.dev\/v1/,
    },
    {
      name: "a memory request that is not a quantity",
      manifest: variant(pod, (p) => (p.spec.containers[0].resources.requests.memory = "64 MB")),
      path: ["spec", "containers", 0, "resources", "requests", "memory"],
      message: /"64 MB" is not a quantity/,
    },
    {
      name: "a request above its limit",
      manifest: variant(pod, (p) => (p.spec.containers[0].resources = { requests: { cpu: "2" }, limits: { cpu: "1500m" } })),
      path: ["spec", "containers", 0, "resources", "requests", "cpu"],
      message: /less than or equal to cpu limit of 1500m/,
    },
    {
      name: "a name over 253 characters",
      manifest: variant(pod, (p) => (p.metadata.name = "a".repeat(254))),
      path: ["metadata", "name"],
      message: /no more than 253 characters/,
    },
    {
      name: "a namespace that is not a DNS label",
      manifest: variant(pod, (p) => (p.metadata.namespace = "shop.eu")),
      path: ["metadata", "namespace"],
      message: /RFC 1123 label/,
    },
    {
      name: "a field Kubernetes fills in (uid)",
      manifest: variant(pod, (p) => (p.metadata.uid = "1234")),
      path: ["metadata"],
      message: /Unrecognized key: "uid"/,
    },
    {
      name: "a label value that is too long",
      manifest: variant(pod, (p) => (p.metadata.labels.app = "x".repeat(64))),
      path: ["metadata", "labels", "app"],
      message: /no more than 63 characters/,
    },
    {
      name: "a label key with two slashes",
      manifest: variant(pod, (p) => (p.metadata.labels["a/b/c"] = "x")),
      path: ["metadata", "labels", "a/b/c"],
      message: /invalid key "a\/b\/c": .*at most one '\/'/,
    },
    {
      name: "an init container named like a container",
      manifest: variant(pod, (p) => (p.spec.initContainers[0].name = "web")),
      path: ["spec", "containers", 0, "name"],
      message: /duplicate container name "web"/,
    },
    {
      name: "two ports with one name",
      manifest: variant(pod, (p) => (p.spec.containers[0].ports[1].name = "http")),
      path: ["spec", "containers", 0, "ports", 1, "name"],
      message: /duplicate port name "http"/,
    },
    {
      name: "a port name longer than 15 characters",
      manifest: variant(pod, (p) => (p.spec.containers[0].ports[1].name = "prometheus-metrics")),
      path: ["spec", "containers", 0, "ports", 1, "name"],
      message: /1 to 15 characters/,
    },
    {
      name: "a port out of range",
      manifest: variant(pod, (p) => (p.spec.containers[0].ports[0].containerPort = 70000)),
      path: ["spec", "containers", 0, "ports", 0, "containerPort"],
      message: /between 1 and 65535/,
    },
    {
      name: "a mount of an undeclared volume",
      manifest: variant(pod, (p) => (p.spec.containers[0].volumeMounts[0].name = "scratch")),
      path: ["spec", "containers", 0, "volumeMounts", 0, "name"],
      message: /volume "scratch" is not declared in volumes/,
    },
    {
      name: "a probe on a port name the container does not declare",
      manifest: variant(pod, (p) => (p.spec.containers[0].livenessProbe.tcpSocket.port = "admin")),
      path: ["spec", "containers", 0, "livenessProbe", "tcpSocket", "port"],
      message: /port name "admin" does not match any named port of container "web"/,
    },
    {
      name: "a lifecycle hook on an undeclared port name",
      manifest: variant(pod, (p) => (p.spec.containers[0].lifecycle.postStart.httpGet.port = "warmup")),
      path: ["spec", "containers", 0, "lifecycle", "postStart", "httpGet", "port"],
      message: /port name "warmup" does not match/,
    },
    {
      name: "a probe with two handlers",
      manifest: variant(pod, (p) => (p.spec.containers[0].readinessProbe.exec = { command: ["true"] })),
      path: ["spec", "containers", 0, "readinessProbe", "exec"],
      message: /may not specify more than one handler type \(httpGet is already set\)/,
    },
    {
      name: "a probe without a handler",
      manifest: variant(pod, (p) => (p.spec.containers[0].readinessProbe = { periodSeconds: 5 })),
      path: ["spec", "containers", 0, "readinessProbe"],
      message: /must specify a handler type: one of httpGet, tcpSocket, exec/,
    },
    {
      name: "a liveness probe that needs two successes",
      manifest: variant(pod, (p) => (p.spec.containers[0].livenessProbe.successThreshold = 2)),
      path: ["spec", "containers", 0, "livenessProbe", "successThreshold"],
      message: /must be 1/,
    },
    {
      name: "restartPolicy on a regular container",
      manifest: variant(pod, (p) => (p.spec.containers[0].restartPolicy = "Always")),
      path: containerAt(0, "restartPolicy"),
      message: /may only be set on init containers/,
    },
    {
      name: "a probe on a plain init container",
      manifest: variant(pod, (p) => (p.spec.initContainers[0].readinessProbe = { exec: { command: ["true"] } })),
      path: ["spec", "initContainers", 0, "readinessProbe"],
      message: /init containers without restartPolicy "Always"/,
    },
    {
      name: "an env var with both value and valueFrom",
      manifest: variant(pod, (p) => (p.spec.containers[0].env[1].value = "inline")),
      path: ["spec", "containers", 0, "env", 1, "valueFrom"],
      message: /may not be specified when `value` is not empty/,
    },
    {
      name: "an unquoted number as an env value",
      manifest: variant(pod, (p) => (p.spec.containers[0].env[0].value = 8080)),
      path: ["spec", "containers", 0, "env", 0, "value"],
      message: /quote numbers and booleans/,
    },
    {
      name: "a fieldRef capstan cannot fill",
      manifest: variant(pod, (p) => (p.spec.containers[0].env[2].valueFrom.fieldRef.fieldPath = "spec.serviceAccountName")),
      path: ["spec", "containers", 0, "env", 2, "valueFrom", "fieldRef", "fieldPath"],
      message: /supported fieldPaths are/,
    },
    {
      name: "envFrom naming both a ConfigMap and a Secret",
      manifest: variant(pod, (p) => (p.spec.containers[0].envFrom[0].secretRef = { name: "web-secrets" })),
      path: ["spec", "containers", 0, "envFrom", 0, "secretRef"],
      message: /may not specify more than one source \(configMapRef is already set\)/,
    },
    {
      name: "a volume with two sources",
      manifest: variant(pod, (p) => (p.spec.volumes[0].hostPath = { path: "/srv/cache" })),
      path: ["spec", "volumes", 0, "hostPath"],
      message: /may not specify more than one volume type \(emptyDir is already set\)/,
    },
    {
      name: "a volume without a source",
      manifest: variant(pod, (p) => (p.spec.volumes[0] = { name: "cache" })),
      path: ["spec", "volumes", 0],
      message: /must specify a volume type: one of emptyDir, hostPath/,
    },
    {
      name: "an emptyDir medium other than memory",
      manifest: variant(pod, (p) => (p.spec.volumes[0].emptyDir.medium = "HugePages")),
      path: ["spec", "volumes", 0, "emptyDir", "medium"],
      message: /Invalid option/,
    },
    {
      name: "a relative hostPath",
      manifest: variant(pod, (p) => (p.spec.volumes[2].hostPath.path = "srv/web")),
      path: ["spec", "volumes", 2, "hostPath", "path"],
      message: /absolute path/,
    },
    {
      name: "a configMap item that climbs out of its directory",
      manifest: variant(pod, (p) => (p.spec.volumes[1].configMap.items[0].path = "../etc/passwd")),
      path: ["spec", "volumes", 1, "configMap", "items", 0, "path"],
      message: /must not contain '\.\.'/,
    },
    {
      name: "two volumes with one name",
      manifest: variant(pod, (p) => (p.spec.volumes[1].name = "cache")),
      path: ["spec", "volumes", 1, "name"],
      message: /duplicate volume name "cache"/,
    },
    {
      name: "a pod restart policy Kubernetes does not know",
      manifest: variant(pod, (p) => (p.spec.restartPolicy = "Sometimes")),
      path: ["spec", "restartPolicy"],
      message: /expected one of "Always"\|"OnFailure"\|"Never"/,
    },
    {
      name: "a serviceAccountName",
      manifest: variant(pod, (p) => (p.spec.serviceAccountName = "default")),
      path: ["spec", "serviceAccountName"],
      message: /capstan has no service accounts/,
    },
    {
      name: "a Gt node affinity with a non-integer value",
      manifest: variant(pod, (p) => (p.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values = ["many"])),
      path: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", 0, "matchExpressions", 0, "values"],
      message: /single integer value when operator is Gt/,
    },
    {
      name: "a pod anti-affinity weight over 100",
      manifest: variant(pod, (p) => (p.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight = 101)),
      path: ["spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "weight"],
      message: /range 1-100/,
    },
    {
      name: "a toleration with Exists and a value",
      manifest: variant(pod, (p) => (p.spec.tolerations[1].value = "yes")),
      path: ["spec", "tolerations", 1, "value"],
      message: /value must be empty when operator is Exists/,
    },
    {
      name: "tolerationSeconds without NoExecute",
      manifest: variant(pod, (p) => (p.spec.tolerations[0].tolerationSeconds = 30)),
      path: ["spec", "tolerations", 0, "effect"],
      message: /effect must be NoExecute when tolerationSeconds is set/,
    },
    {
      name: "a host alias with a bad IP",
      manifest: variant(pod, (p) => (p.spec.hostAliases[0].ip = "10.0.0.256")),
      path: ["spec", "hostAliases", 0, "ip"],
      message: /valid IPv4 or IPv6 address/,
    },
    {
      name: "a pod with no containers",
      manifest: variant(pod, (p) => (p.spec.containers = [])),
      path: ["spec", "containers"],
      message: /at least one container/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Pod", manifest, path, message);
  });

  it("exposes the pod spec schema for other kinds and the scheduler", () => {
    const result = podSpecSchema.safeParse({ containers: [{ name: "a", command: ["true"] }] });
    expect(result.success && result.data.restartPolicy).toBe("Always");
  });
});
