import type { StoredObject } from "../../src/desired/index.ts";

/** A StoredObject for logic tests: controller-made, generation 1, created at `createdAt` (default the epoch), in namespace "shop" unless given. */
export function storedObject(fields: Partial<StoredObject> & Pick<StoredObject, "kind" | "name">): StoredObject {
  const createdAt = fields.createdAt ?? new Date(0);
  return {
    uid: `uid-${fields.kind.toLowerCase()}-${fields.name}`,
    apiVersion: "v1",
    namespace: "shop",
    labels: {},
    annotations: {},
    spec: {},
    status: {},
    generation: 1,
    observedGeneration: 0,
    specHash: "",
    resourceVersion: 1,
    ownerUid: null,
    source: "controller",
    revisionSha: null,
    sourceFile: null,
    sourceLine: null,
    createdAt,
    updatedAt: createdAt,
    deletedAt: null,
    ...fields,
  };
}
