import { describe, expect, it } from "vitest";
import { diffObjects, fieldChanges, formatChanges, maxFieldsPerObject, type ComparableObject } from "../../src/desired/object-diff.ts";

const object = (kind: string, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): ComparableObject => ({
  kind,
  namespace: "default",
  name,
  labels,
  annotations: {},
  spec,
});

describe("diffObjects: what a commit changed, object by object", () => {
  it.each([
    {
      case: "an object only in the new set is added",
      before: [],
      after: [object("Deployment", "web", { replicas: 1 })],
      expected: [{ kind: "Deployment", namespace: "default", name: "web", change: "added", fields: [] }],
    },
    {
      case: "an object only in the old set is removed",
      before: [object("ConfigMap", "settings", { data: { a: "1" } })],
      after: [],
      expected: [{ kind: "ConfigMap", namespace: "default", name: "settings", change: "removed", fields: [] }],
    },
    {
      case: "an equal object is not listed, whatever its keys' order",
      before: [object("Deployment", "web", { replicas: 1, paused: false })],
      after: [object("Deployment", "web", { paused: false, replicas: 1 })],
      expected: [],
    },
    {
      case: "a changed spec field is listed with its path and both values",
      before: [object("Deployment", "web", { template: { spec: { containers: [{ name: "web", env: [{ name: "V", value: "v1" }] }] } } })],
      after: [object("Deployment", "web", { template: { spec: { containers: [{ name: "web", env: [{ name: "V", value: "v2" }] }] } } })],
      expected: [
        {
          kind: "Deployment",
          namespace: "default",
          name: "web",
          change: "changed",
          fields: [{ path: "spec.template.spec.containers[0].env[0].value", from: "v1", to: "v2" }],
        },
      ],
    },
    {
      case: "a label added and a field removed",
      before: [object("Deployment", "web", { replicas: 2, paused: true })],
      after: [object("Deployment", "web", { replicas: 2 }, { tier: "front" })],
      expected: [
        {
          kind: "Deployment",
          namespace: "default",
          name: "web",
          change: "changed",
          fields: [
            { path: "metadata.labels.tier", to: "front" },
            { path: "spec.paused", from: true },
          ],
        },
      ],
    },
    {
      case: "a Secret's changed values are never shown, only their paths",
      before: [object("Secret", "db", { data: { password: "b2xk" } })],
      after: [object("Secret", "db", { data: { password: "bmV3" } })],
      expected: [{ kind: "Secret", namespace: "default", name: "db", change: "changed", fields: [{ path: "spec.data.password" }] }],
    },
  ])("$case", ({ before, after, expected }) => {
    expect(diffObjects(before, after)).toEqual(expected);
  });

  it("orders changes by kind, namespace and name", () => {
    const changes = diffObjects([object("Service", "b", {})], [object("Deployment", "z", {}), object("ConfigMap", "a", {})]);
    expect(changes.map((change) => `${change.change} ${change.kind}/${change.name}`)).toEqual(["added ConfigMap/a", "added Deployment/z", "removed Service/b"]);
  });

  it("lists at most maxFieldsPerObject fields of one object and says it cut the rest", () => {
    const many = (value: string) => Object.fromEntries(Array.from({ length: maxFieldsPerObject + 10 }, (_, index) => [`k${index}`, value]));
    const [change] = diffObjects([object("ConfigMap", "big", { data: many("a") })], [object("ConfigMap", "big", { data: many("b") })]);
    expect(change!.fields).toHaveLength(maxFieldsPerObject);
    expect(change!.truncated).toBe(true);
  });

  it("compares arrays index by index, a longer array adding entries", () => {
    expect(fieldChanges({ args: ["a"] }, { args: ["a", "b"] }, "spec")).toEqual([{ path: "spec.args[1]", to: "b" }]);
  });

  it("prints one line per object and one per field", () => {
    const text = formatChanges([
      { kind: "Deployment", namespace: "shop", name: "web", change: "changed", fields: [{ path: "spec.replicas", from: 2, to: 3 }] },
      { kind: "Secret", namespace: "shop", name: "db", change: "changed", fields: [{ path: "spec.data.password" }] },
      { kind: "Namespace", namespace: "", name: "shop", change: "added", fields: [] },
    ]);
    expect(text).toBe("~ Deployment shop/web\n    spec.replicas: 2 -> 3\n~ Secret shop/db\n    spec.data.password (value hidden)\n+ Namespace shop\n");
    expect(formatChanges([])).toBe("no changes\n");
  });
});
