import { describe, expect, it } from "vitest";
import { accept, expectIssue, podTemplate, variant, type InvalidCase } from "./expect.ts";

const statefulSet = {
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: { name: "kv", namespace: "shop" },
  spec: {
    serviceName: "kv",
    selector: { matchLabels: { app: "kv" } },
    template: podTemplate(
      { app: "kv" },
      {
        containers: [
          {
            name: "kv",
            command: ["node", "app/kv-store.js"],
            // "data" is declared by the claim template below, not under volumes.
            volumeMounts: [{ name: "data", mountPath: "/var/lib/kv" }],
          },
        ],
      },
    ),
    volumeClaimTemplates: [
      {
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    ],
  },
};

describe("StatefulSet", () => {
  it("is accepted with the Kubernetes defaults applied", () => {
    const parsed = accept("StatefulSet", statefulSet);
    expect(parsed.spec).toMatchObject({
      replicas: 1,
      podManagementPolicy: "OrderedReady",
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0, maxUnavailable: 1 } },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
      minReadySeconds: 0,
      revisionHistoryLimit: 10,
    });
    expect(parsed.spec.template.spec).toMatchObject({ restartPolicy: "Always", terminationGracePeriodSeconds: 30 });
  });

  const invalid: InvalidCase[] = [
    {
      name: "a name too long for its pods' host names (<name>-<ordinal> must stay a DNS label)",
      manifest: variant(statefulSet, (s) => (s.metadata.name = "k".repeat(53))),
      path: ["metadata", "name"],
      message: /must be no more than 52 characters/,
    },
    {
      name: "a dotted name (a pod's host name is a single DNS label)",
      manifest: variant(statefulSet, (s) => (s.metadata.name = "kv.store")),
      path: ["metadata", "name"],
      message: /RFC 1123 label/,
    },
    {
      name: "a mount of a volume neither declared nor claimed",
      manifest: variant(statefulSet, (s) => (s.spec.template.spec.containers[0].volumeMounts[0].name = "logs")),
      path: ["spec", "template", "spec", "containers", 0, "volumeMounts", 0, "name"],
      message: /volume "logs" is not declared in volumes/,
    },
    {
      name: "a storage request that is not a quantity",
      manifest: variant(statefulSet, (s) => (s.spec.volumeClaimTemplates[0].spec.resources.requests.storage = "1 GB")),
      path: ["spec", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage"],
      message: /"1 GB" is not a quantity/,
    },
    {
      name: "a claim template without access modes",
      manifest: variant(statefulSet, (s) => (s.spec.volumeClaimTemplates[0].spec.accessModes = [])),
      path: ["spec", "volumeClaimTemplates", 0, "spec", "accessModes"],
      message: /at least 1 access mode is required/,
    },
    {
      name: "two claim templates with one name",
      manifest: variant(statefulSet, (s) => s.spec.volumeClaimTemplates.push(structuredClone(s.spec.volumeClaimTemplates[0]))),
      path: ["spec", "volumeClaimTemplates", 1, "metadata", "name"],
      message: /duplicate claim template name "data"/,
    },
    {
      name: "a selector that does not match the template",
      manifest: variant(statefulSet, (s) => (s.spec.selector.matchLabels.app = "db")),
      path: ["spec", "selector"],
      message: /selector does not match template labels/,
    },
    {
      name: "a duplicate container name, checked even without the usual pod-spec check",
      manifest: variant(statefulSet, (s) => s.spec.template.spec.containers.push({ name: "kv", command: ["true"] })),
      path: ["spec", "template", "spec", "containers", 1, "name"],
      message: /duplicate container name "kv"/,
    },
    {
      name: "a podManagementPolicy Kubernetes does not know",
      manifest: variant(statefulSet, (s) => (s.spec.podManagementPolicy = "Random")),
      path: ["spec", "podManagementPolicy"],
      message: /expected one of "OrderedReady"\|"Parallel"/,
    },
    {
      name: "a rolling update that may take no pod down",
      manifest: variant(statefulSet, (s) => (s.spec.updateStrategy = { rollingUpdate: { maxUnavailable: 0 } })),
      path: ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
      message: /must be greater than 0/,
    },
    {
      name: "a retention policy Kubernetes does not know",
      manifest: variant(statefulSet, (s) => (s.spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: "Archive" })),
      path: ["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"],
      message: /expected one of "Retain"\|"Delete"/,
    },
    {
      name: "an unknown field in a claim template's spec",
      manifest: variant(statefulSet, (s) => (s.spec.volumeClaimTemplates[0].spec.volumeMode = "Block")),
      path: ["spec", "volumeClaimTemplates", 0, "spec"],
      message: /Unrecognized key: "volumeMode"/,
    },
    {
      name: "a v1 apiVersion",
      manifest: variant(statefulSet, (s) => (s.apiVersion = "v1")),
      path: ["apiVersion"],
      message: /does not serve kind StatefulSet/,
    },
    {
      name: "an uppercase name",
      manifest: variant(statefulSet, (s) => (s.metadata.name = "KV")),
      path: ["metadata", "name"],
      message: /RFC 1123 label/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("StatefulSet", manifest, path, message);
  });
});
