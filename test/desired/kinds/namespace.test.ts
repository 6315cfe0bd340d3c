import { describe, expect, it } from "vitest";
import { accept, expectIssue, kindOf, variant, type InvalidCase } from "./expect.ts";

const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { team: "storefront" } } };

describe("Namespace", () => {
  it("is accepted, cluster-scoped, with an empty spec", () => {
    const parsed = accept("Namespace", namespace);
    expect(parsed).toEqual({ ...namespace, metadata: { ...namespace.metadata, annotations: {} }, spec: {} });
    expect(kindOf("Namespace").namespaced).toBe(false);
    expect(kindOf("Namespace").specOf(parsed)).toEqual({});
  });

  it("accepts capstan.dev/v1", () => {
    expect(accept("Namespace", { ...namespace, apiVersion: "capstan.dev/v1" }).apiVersion).toBe("capstan.dev/v1");
  });

  const invalid: InvalidCase[] = [
    {
      name: "a name with a dot (namespaces are DNS labels)",
      manifest: variant(namespace, (n) => (n.metadata.name = "shop.eu")),
      path: ["metadata", "name"],
      message: /RFC 1123 label/,
    },
    {
      name: "a name over 63 characters",
      manifest: variant(namespace, (n) => (n.metadata.name = "s".repeat(64))),
      path: ["metadata", "name"],
      message: /no more than 63 characters/,
    },
    {
      name: "a namespace of its own",
      manifest: variant(namespace, (n) => (n.metadata.namespace = "default")),
      path: ["metadata", "namespace"],
      message: /Namespace is cluster-scoped: metadata.namespace must not be set/,
    },
    {
      name: "an apps/v1 apiVersion",
      manifest: variant(namespace, (n) => (n.apiVersion = "apps/v1")),
      path: ["apiVersion"],
      message: /does not serve kind Namespace/,
    },
    {
      name: "an unknown field in spec",
      manifest: variant(namespace, (n) => (n.spec = { finalizers: ["kubernetes"] })),
      path: ["spec"],
      message: /Unrecognized key: "finalizers"/,
    },
    {
      name: "a missing name",
      manifest: variant(namespace, (n) => delete n.metadata.name),
      path: ["metadata", "name"],
      message: /is required/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Namespace", manifest, path, message);
  });
});
