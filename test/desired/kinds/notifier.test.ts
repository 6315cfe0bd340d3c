import { describe, expect, it } from "vitest";
import { validateFiles } from "../../../src/desired/validate.ts";
import { accept, expectIssue, kindOf, variant, type InvalidCase } from "./expect.ts";

const notifier = {
  apiVersion: "capstan.dev/v1",
  kind: "Notifier",
  metadata: { name: "team-chat", namespace: "shop" },
  spec: {
    url: "https://hooks.example.com/services/T000/B000/XXXX",
    events: ["RolloutFailed", "CommitRejected"],
    format: "slack",
    secretRef: { name: "webhook-key", key: "hmac" },
    headers: { "X-Team": "shop" },
  },
};

describe("Notifier", () => {
  it("is accepted, and its stored spec is the manifest's spec with defaults", () => {
    const parsed = accept("Notifier", notifier);
    expect(kindOf("Notifier").specOf(parsed)).toEqual({ ...notifier.spec, suspend: false });
  });

  it("defaults to every event, json, no headers, not suspended", () => {
    const parsed = accept("Notifier", { apiVersion: "capstan.dev/v1", kind: "Notifier", metadata: { name: "all" }, spec: { url: "http://127.0.0.1:9000/hook" } });
    expect(parsed.spec).toEqual({ url: "http://127.0.0.1:9000/hook", events: [], format: "json", headers: {}, suspend: false });
  });

  const invalid: InvalidCase[] = [
    { name: "a URL that is not one", manifest: variant(notifier, (n) => (n.spec.url = "hooks.example.com/x")), path: ["spec", "url"], message: /must be an absolute http:\/\/ or https:\/\/ URL/ },
    { name: "a URL of another scheme", manifest: variant(notifier, (n) => (n.spec.url = "ftp://example.com/x")), path: ["spec", "url"], message: /must be an http:\/\/ or https:\/\/ URL, not ftp:/ },
    { name: "no URL", manifest: variant(notifier, (n) => delete n.spec.url), path: ["spec", "url"], message: /is required/ },
    { name: "an unknown event", manifest: variant(notifier, (n) => (n.spec.events = ["RolloutFailed", "PodCrashed"])), path: ["spec", "events", 1], message: /unknown event "PodCrashed": use one of RolloutComplete, RolloutFailed/ },
    { name: "an unknown format", manifest: variant(notifier, (n) => (n.spec.format = "teams")), path: ["spec", "format"], message: /must be "json" or "slack"/ },
    { name: "a secretRef without its key", manifest: variant(notifier, (n) => delete n.spec.secretRef.key), path: ["spec", "secretRef", "key"], message: /expected string/ },
    { name: "a secretRef with an unknown field", manifest: variant(notifier, (n) => (n.spec.secretRef.optional = true)), path: ["spec", "secretRef"], message: /optional/ },
    { name: "an unknown spec field", manifest: variant(notifier, (n) => (n.spec.channel = "#ops")), path: ["spec"], message: /channel/ },
    { name: "a credential in a header", manifest: variant(notifier, (n) => (n.spec.headers = { Authorization: "Bearer abc" })), path: ["spec", "headers", "Authorization"], message: /credential in Git in plain text/ },
    { name: "a header capstan sets", manifest: variant(notifier, (n) => (n.spec.headers = { "Idempotency-Key": "x" })), path: ["spec", "headers", "Idempotency-Key"], message: /set by capstan/ },
    { name: "a namespace that cannot be one", manifest: variant(notifier, (n) => (n.spec.namespaces = ["Shop"])), path: ["spec", "namespaces", 0], message: /RFC 1123 label/ },
    { name: "the core apiVersion (Notifier is capstan's own kind)", manifest: variant(notifier, (n) => (n.apiVersion = "v1")), path: ["apiVersion"], message: /does not serve kind Notifier: use one of capstan.dev\/v1/ },
  ];
  for (const testCase of invalid) {
    it(`rejects ${testCase.name}`, () => expectIssue("Notifier", testCase.manifest, testCase.path, testCase.message));
  }

  it("locates problems at file:line, and warns when the referenced Secret or its key is missing from the commit", () => {
    const manifest = [
      "apiVersion: capstan.dev/v1",
      "kind: Notifier",
      "metadata: {name: chat}",
      "spec:",
      "  url: https://example.com/hook",
      "  events: [RolloutFailed, Nope]",
      "  secretRef: {name: hook-key, key: hmac}",
      "",
    ].join("\n");
    const bad = validateFiles([{ path: "notifier.yaml", content: manifest }]);
    expect(bad.problems).toContainEqual(expect.objectContaining({ file: "notifier.yaml", line: 6, path: "spec.events[1]", severity: "error", message: expect.stringMatching(/unknown event "Nope"/) }));

    const good = manifest.replace(", Nope", "");
    const secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: hook-key}\nstringData: {other: s3cr3t-value}\n";
    const { problems } = validateFiles([{ path: "notifier.yaml", content: good }, { path: "secret.yaml", content: secret }]);
    expect(problems).toEqual([
      { file: "notifier.yaml", line: 7, column: 31, path: "spec.secretRef.key", message: 'Secret "hook-key" has no key "hmac": its deliveries will fail until it does', severity: "warning" },
    ]);
    expect(JSON.stringify(problems)).not.toContain("s3cr3t-value");
    const missing = validateFiles([{ path: "notifier.yaml", content: good }]);
    expect(missing.problems).toEqual([
      expect.objectContaining({ line: 7, path: "spec.secretRef.name", severity: "warning", message: 'Secret "hook-key" not found in namespace "default" in this commit: its deliveries will fail until it exists' }),
    ]);
  });
});
