import { describe, expect, it } from "vitest";
import { accept, expectIssue, variant, type InvalidCase } from "./expect.ts";

const claim = {
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name: "uploads", namespace: "shop" },
  spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } } },
};

describe("PersistentVolumeClaim", () => {
  it("is accepted with its defaults (a directory: Filesystem mode)", () => {
    const parsed = accept("PersistentVolumeClaim", claim);
    expect(parsed.spec).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } }, volumeMode: "Filesystem" });
  });

  it("accepts the reclaim policy and relocatable annotations", () => {
    const annotated = variant(claim, (c) => (c.metadata.annotations = { "capstan.dev/reclaim-policy": "Retain", "capstan.dev/relocatable": "true" }));
    expect(accept("PersistentVolumeClaim", annotated).metadata.annotations["capstan.dev/reclaim-policy"]).toBe("Retain");
  });

  const invalid: InvalidCase[] = [
    {
      name: "no access mode",
      manifest: variant(claim, (c) => (c.spec.accessModes = [])),
      path: ["spec", "accessModes"],
      message: /at least 1 access mode/,
    },
    {
      name: "a storage request that is not a quantity",
      manifest: variant(claim, (c) => (c.spec.resources.requests.storage = "lots")),
      path: ["spec", "resources", "requests", "storage"],
      message: /is not a quantity/,
    },
    {
      name: "a reclaim policy other than Delete or Retain",
      manifest: variant(claim, (c) => (c.metadata.annotations = { "capstan.dev/reclaim-policy": "Recycle" })),
      path: ["metadata", "annotations", "capstan.dev/reclaim-policy"],
      message: /must be "Delete" or "Retain"/,
    },
    {
      name: "relocatable other than true or false",
      manifest: variant(claim, (c) => (c.metadata.annotations = { "capstan.dev/relocatable": "yes" })),
      path: ["metadata", "annotations", "capstan.dev/relocatable"],
      message: /must be "true" or "false"/,
    },
    {
      name: "a block volume",
      manifest: variant(claim, (c) => ((c.spec as Record<string, unknown>).volumeMode = "Block")),
      path: ["spec", "volumeMode"],
      message: /only "Filesystem"/,
    },
  ];
  it.each(invalid)("refuses $name", ({ manifest, path, message }) => expectIssue("PersistentVolumeClaim", manifest, path, message));
});
