import { describe, expect, it } from "vitest";
import { accept, expectIssue, kindOf, reject, variant, type InvalidCase } from "./expect.ts";

const secretValue = "s3cr3t-Pa55w0rd!";
const base64 = (text: string) => Buffer.from(text).toString("base64");

const secret = {
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "web-secrets", namespace: "shop" },
  data: { token: base64("tok-123"), password: base64("old") },
  stringData: { password: secretValue },
};

describe("Secret", () => {
  it("is accepted as Opaque, and its stored spec has stringData merged into data as base64", () => {
    const parsed = accept("Secret", secret);
    expect(parsed.type).toBe("Opaque");
    expect(kindOf("Secret").specOf(parsed)).toEqual({
      type: "Opaque",
      // stringData wins over data for the same key, as in Kubernetes.
      data: { token: base64("tok-123"), password: base64(secretValue) },
      immutable: false,
    });
  });

  it("accepts a TLS secret carrying its two keys", () => {
    const parsed = accept("Secret", {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "tls" },
      type: "kubernetes.io/tls",
      stringData: { "tls.crt": "CERT", "tls.key": "KEY" },
      immutable: true,
    });
    expect(kindOf("Secret").specOf(parsed)).toMatchObject({ type: "kubernetes.io/tls", immutable: true });
  });

  const invalid: InvalidCase[] = [
    {
      name: "data that is not base64",
      manifest: variant(secret, (s) => (s.data.token = secretValue)),
      path: ["data", "token"],
      message: /^must be a base64-encoded string$/,
    },
    {
      name: "a number in stringData",
      manifest: variant(secret, (s) => (s.stringData.pin = 1234)),
      path: ["stringData", "pin"],
      message: /must be a string/,
    },
    {
      name: "a TLS secret without its key",
      manifest: variant(secret, (s) => Object.assign(s, { type: "kubernetes.io/tls", data: { "tls.crt": base64("CERT") }, stringData: {} })),
      path: ["data"],
      message: /a kubernetes.io\/tls Secret must have key "tls.key"/,
    },
    {
      name: "a key with a space",
      manifest: variant(secret, (s) => (s.data["api token"] = base64("x"))),
      path: ["data", "api token"],
      message: /invalid key "api token"/,
    },
    {
      name: "a batch/v1 apiVersion",
      manifest: variant(secret, (s) => (s.apiVersion = "batch/v1")),
      path: ["apiVersion"],
      message: /does not serve kind Secret/,
    },
    {
      name: "a name with an underscore",
      manifest: variant(secret, (s) => (s.metadata.name = "web_secrets")),
      path: ["metadata", "name"],
      message: /RFC 1123 subdomain/,
    },
    {
      name: "a top-level field that is not a Secret's",
      manifest: variant(secret, (s) => (s.password = secretValue)),
      path: [],
      message: /Unrecognized key: "password"/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Secret", manifest, path, message);
  });

  it("never puts a secret value in an error, plain or encoded", () => {
    const badValues = [
      variant(secret, (s) => (s.data.token = secretValue)),
      variant(secret, (s) => (s.data.token = `${base64(secretValue)}!`)),
      variant(secret, (s) => (s.stringData.password = { nested: secretValue })),
      variant(secret, (s) => (s.stringData.password = [secretValue])),
      variant(secret, (s) => (s.password = secretValue)),
      variant(secret, (s) => Object.assign(s, { type: "kubernetes.io/tls", stringData: { "tls.crt": secretValue } })),
    ];
    for (const manifest of badValues) {
      const issues = JSON.stringify(reject("Secret", manifest));
      expect(issues).not.toContain(secretValue);
      expect(issues).not.toContain(base64(secretValue));
    }
  });
});
