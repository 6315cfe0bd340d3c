import { describe, expect, it } from "vitest";
import { MemoryDesiredStore, type PodTemplateSpec } from "../../src/desired/index.ts";
import { configHashAnnotation, templateWithConfigHash } from "../../src/reconcilers/config-hash.ts";

/** The config-hash annotation: a new value whenever a referenced ConfigMap or Secret changes, and nothing that reveals a Secret. */

const template: PodTemplateSpec = {
  metadata: { labels: { app: "web" } },
  spec: {
    containers: [
      {
        name: "web",
        command: ["web"],
        env: [
          { name: "MODE", valueFrom: { configMapKeyRef: { name: "settings", key: "mode" } } },
          { name: "TOKEN", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } },
        ],
      },
    ],
  },
} as unknown as PodTemplateSpec;

async function hashWith(store: MemoryDesiredStore): Promise<string | undefined> {
  return (await templateWithConfigHash(store, "default", template)).metadata.annotations?.[configHashAnnotation];
}

async function storeWith(mode: string, token: string): Promise<MemoryDesiredStore> {
  const store = new MemoryDesiredStore();
  await store.createObject({ apiVersion: "v1", kind: "ConfigMap", namespace: "default", name: "settings", spec: { data: { mode } } });
  await store.createObject({ apiVersion: "v1", kind: "Secret", namespace: "default", name: "creds", spec: { data: { token } } });
  return store;
}

describe("templateWithConfigHash", () => {
  it("stays the same while nothing referenced changes", async () => {
    const store = await storeWith("fast", "czNjcmV0");
    expect(await hashWith(store)).toMatch(/^[0-9a-f]{16}$/);
    expect(await hashWith(store)).toBe(await hashWith(store));
  });

  it("changes when a referenced ConfigMap's data changes", async () => {
    const store = await storeWith("fast", "czNjcmV0");
    const before = await hashWith(store);
    const settings = (await store.getObject({ kind: "ConfigMap", namespace: "default", name: "settings" }))!;
    await store.updateObject({ kind: "ConfigMap", namespace: "default", name: "settings" }, settings.resourceVersion, { spec: { data: { mode: "slow" } } });
    expect(await hashWith(store)).not.toBe(before);
  });

  it("changes when a referenced Secret's data changes, without hashing the Secret's content", async () => {
    const store = await storeWith("fast", "czNjcmV0");
    const before = await hashWith(store);
    const creds = (await store.getObject({ kind: "Secret", namespace: "default", name: "creds" }))!;
    await store.updateObject({ kind: "Secret", namespace: "default", name: "creds" }, creds.resourceVersion, { spec: { data: { token: "b3RoZXI=" } } });
    expect(await hashWith(store)).not.toBe(before);

    // The same Secret object (uid, generation) holding a different value hashes the same: the value is not an input.
    const original = await store.getObject({ kind: "Secret", namespace: "default", name: "creds" });
    const configMap = await store.getObject({ kind: "ConfigMap", namespace: "default", name: "settings" });
    const reader = (token: string) =>
      ({
        getObject: async (key: { kind: string }) => (key.kind === "Secret" ? { ...original!, spec: { data: { token } } } : configMap),
      }) as unknown as MemoryDesiredStore;
    expect(await hashWith(reader("Z3Vlc3Mx"))).toBe(await hashWith(reader("Z3Vlc3My")));
  });
});
