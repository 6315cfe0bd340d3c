import { describe, expect, it } from "vitest";
import { accept, expectIssue, kindOf, variant, type InvalidCase } from "./expect.ts";

const configMap = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "web-config", namespace: "shop" },
  data: { GREETING: "hello", "app.json": '{"items": 3}' },
  binaryData: { "logo.png": Buffer.from([0x89, 0x50, 0x4e, 0x47]).toString("base64") },
};

describe("ConfigMap", () => {
  it("is accepted, and its stored spec is the data fields", () => {
    const parsed = accept("ConfigMap", configMap);
    expect(parsed.immutable).toBe(false);
    expect(kindOf("ConfigMap").specOf(parsed)).toEqual({
      data: configMap.data,
      binaryData: configMap.binaryData,
      immutable: false,
    });
  });

  it("defaults missing data maps to empty ones", () => {
    const parsed = accept("ConfigMap", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "empty" } });
    expect(kindOf("ConfigMap").specOf(parsed)).toEqual({ data: {}, binaryData: {}, immutable: false });
  });

  const invalid: InvalidCase[] = [
    {
      name: "a key with a slash (keys become file names)",
      manifest: variant(configMap, (c) => (c.data["conf/app.json"] = "{}")),
      path: ["data", "conf/app.json"],
      message: /invalid key "conf\/app.json": a valid config key/,
    },
    {
      name: "the key '..'",
      manifest: variant(configMap, (c) => (c.data[".."] = "x")),
      path: ["data", ".."],
      message: /must not be '.' or '..'/,
    },
    {
      name: "an unquoted number as a value",
      manifest: variant(configMap, (c) => (c.data.PORT = 8080)),
      path: ["data", "PORT"],
      message: /must be a string \(quote numbers and booleans in YAML\)/,
    },
    {
      name: "binaryData that is not base64",
      manifest: variant(configMap, (c) => (c.binaryData["logo.png"] = "not base64!")),
      path: ["binaryData", "logo.png"],
      message: /base64-encoded string/,
    },
    {
      name: "a key in both data and binaryData",
      manifest: variant(configMap, (c) => (c.binaryData.GREETING = "aGk=")),
      path: ["binaryData", "GREETING"],
      message: /duplicate of key "GREETING" in data/,
    },
    {
      name: "more than 1 MiB of data",
      manifest: variant(configMap, (c) => (c.data.big = "x".repeat(1024 * 1024))),
      path: ["data"],
      message: /may not be more than 1048576 bytes/,
    },
    {
      name: "data nested under spec",
      manifest: variant(configMap, (c) => (c.spec = { data: {} })),
      path: [],
      message: /Unrecognized key: "spec"/,
    },
    {
      name: "an apps/v1 apiVersion",
      manifest: variant(configMap, (c) => (c.apiVersion = "apps/v1")),
      path: ["apiVersion"],
      message: /does not serve kind ConfigMap/,
    },
    {
      name: "a name ending in a hyphen",
      manifest: variant(configMap, (c) => (c.metadata.name = "web-config-")),
      path: ["metadata", "name"],
      message: /must start and end with an alphanumeric character/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("ConfigMap", manifest, path, message);
  });
});
