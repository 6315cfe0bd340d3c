import { describe, expect, it } from "vitest";
import { podSpecSchema, type StoredObject } from "../../src/desired/index.ts";
import { claimBindings, podClaims } from "../../src/reconcilers/claim-binding.ts";
import { storedObject } from "../helpers/stored-object.ts";

/** Local-path binding: which claims pin a pod, and what binding a pod to a node writes into its claims. */

function claim(name: string, status: Record<string, unknown> = {}, relocatable = false): StoredObject {
  return storedObject({ kind: "PersistentVolumeClaim", name, status, annotations: relocatable ? { "capstan.dev/relocatable": "true" } : {} });
}

const spec = podSpecSchema.parse({
  containers: [{ name: "c", command: ["true"] }],
  volumes: [
    { name: "a", persistentVolumeClaim: { claimName: "data" } },
    { name: "b", persistentVolumeClaim: { claimName: "cache" } },
    { name: "c", persistentVolumeClaim: { claimName: "missing" } },
    { name: "d", emptyDir: {} },
  ],
});

describe("podClaims", () => {
  it("lists missing claims, and as pinning only bound claims that are not relocatable", () => {
    const claims = new Map([
      ["data", claim("data", { phase: "Bound", nodeName: "n1", nodes: ["n1"] })],
      ["cache", claim("cache", { phase: "Bound", nodeName: "n2", nodes: ["n2"] }, true)],
    ]);
    const result = podClaims(spec, claims);
    expect(result.missing).toEqual(["missing"]);
    expect(result.bound).toEqual([{ claim: "data", node: "n1" }]);
    expect(result.found.map((object) => object.name)).toEqual(["data", "cache"]);
  });
});

describe("claimBindings", () => {
  const cases: { name: string; claim: StoredObject; node: string; status: Record<string, unknown> | null }[] = [
    {
      name: "an unbound claim is bound to the node, with the directory finalizer",
      claim: claim("data", { phase: "Pending" }),
      node: "n1",
      status: { phase: "Bound", nodeName: "n1", nodes: ["n1"], finalizers: ["capstan.dev/claim-directory"] },
    },
    { name: "a claim bound to the node already: no write", claim: claim("data", { phase: "Bound", nodeName: "n1", nodes: ["n1"] }), node: "n1", status: null },
    { name: "a claim bound elsewhere stays where its data is", claim: claim("data", { phase: "Bound", nodeName: "n2", nodes: ["n2"] }), node: "n1", status: null },
    {
      name: "a relocatable claim follows its pod and remembers every node with a directory",
      claim: claim("cache", { phase: "Bound", nodeName: "n2", nodes: ["n2"] }, true),
      node: "n1",
      status: { phase: "Bound", nodeName: "n1", nodes: ["n2", "n1"], finalizers: ["capstan.dev/claim-directory"] },
    },
  ];
  it.each(cases)("$name", ({ claim: subject, node, status }) => {
    const updates = claimBindings([subject], node);
    expect(updates.map((update) => update.status)).toEqual(status ? [status] : []);
    if (status) expect(updates[0]).toMatchObject({ key: { kind: "PersistentVolumeClaim", namespace: "shop", name: subject.name }, uid: subject.uid });
  });
});
