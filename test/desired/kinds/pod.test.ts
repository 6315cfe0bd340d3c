import { describe, expect, it } from "vitest";
import { podSpecSchema } from "../../../src/desired/kinds/index.ts";
import { accept, expectIssue, variant, type InvalidCase } from "./expect.ts";
import { pod } from "./pod-fixture.ts";

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

  const invalid: InvalidCase[] = [
    {
      name: "an apps/v1 apiVersion",
      manifest: variant(pod, (p) => (p.apiVersion = "apps/v1")),
      path: ["apiVersion"],
      message: /does not serve kind Pod: use one of v1, capstan.dev\/v1/,
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
      name: "an emptyDir sizeLimit that is not a quantity",
      manifest: variant(pod, (p) => (p.spec.volumes[0].emptyDir.sizeLimit = "1 gig")),
      path: ["spec", "volumes", 0, "emptyDir", "sizeLimit"],
      message: /"1 gig" is not a quantity/,
    },
    {
      name: "a volume type capstan does not know",
      manifest: variant(pod, (p) => (p.spec.volumes[0].nfs = { server: "nas", path: "/export" })),
      path: ["spec", "volumes", 0],
      message: /Unrecognized key: "nfs"/,
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
      name: "a downwardAPI volume file of a node field (env only in Kubernetes)",
      manifest: variant(pod, (p) => (p.spec.volumes[3].projected.sources[1].downwardAPI.items[0].fieldRef.fieldPath = "spec.nodeName")),
      path: ["spec", "volumes", 3, "projected", "sources", 1, "downwardAPI", "items", 0, "fieldRef", "fieldPath"],
      message: /supported fieldPaths in a downwardAPI volume/,
    },
    {
      name: "an environment variable of the whole label map (volumes only in Kubernetes)",
      manifest: variant(pod, (p) => (p.spec.containers[0].env[0] = { name: "LABELS", valueFrom: { fieldRef: { fieldPath: "metadata.labels" } } })),
      path: ["spec", "containers", 0, "env", 0, "valueFrom", "fieldRef", "fieldPath"],
      message: /supported fieldPaths are/,
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

  it("accepts whole label and annotation maps, and single entries, as downwardAPI volume files", () => {
    for (const fieldPath of ["metadata.labels", "metadata.annotations", "metadata.annotations['a/b']", "metadata.name", "metadata.namespace", "metadata.uid"]) {
      accept("Pod", variant(pod, (p) => (p.spec.volumes[3].projected.sources[1].downwardAPI.items[0].fieldRef.fieldPath = fieldPath)));
    }
  });

  it("exposes the pod spec schema for other kinds and the scheduler", () => {
    const result = podSpecSchema.safeParse({ containers: [{ name: "a", command: ["true"] }] });
    expect(result.success && result.data.restartPolicy).toBe("Always");
  });
});
