import { createHmac } from "node:crypto";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { BadRequestError, ConfigError } from "../../src/errors.ts";
import {
  parsePushEvent,
  type PushEvent,
  verifyWebhookSignature,
  WEBHOOK_PATH,
  webhookRoute,
} from "../../src/gitsync/webhook.ts";

const secret = "webhook-secret";
const sha = "0123456789abcdef0123456789abcdef01234567";
const pushBody = JSON.stringify({
  ref: "refs/heads/main",
  before: "f".repeat(40),
  after: sha,
  repository: { full_name: "acme/deploy" },
  commits: [{ id: sha, message: "Scale web" }],
});
const bytes = (text: string) => new TextEncoder().encode(text);
const hmac = (body: string, key = secret) => createHmac("sha256", key).update(body).digest("hex");

describe("verifyWebhookSignature", () => {
  it("accepts GitHub's X-Hub-Signature-256", () => {
    const headers = new Headers({ "X-Hub-Signature-256": `sha256=${hmac(pushBody)}` });
    expect(verifyWebhookSignature(secret, bytes(pushBody), headers)).toBe(true);
  });

  it("accepts Gitea's X-Gitea-Signature and Gogs' X-Gogs-Signature", () => {
    expect(verifyWebhookSignature(secret, bytes(pushBody), new Headers({ "X-Gitea-Signature": hmac(pushBody) }))).toBe(true);
    expect(verifyWebhookSignature(secret, bytes(pushBody), new Headers({ "X-Gogs-Signature": hmac(pushBody) }))).toBe(true);
  });

  it("accepts GitLab's X-Gitlab-Token", () => {
    expect(verifyWebhookSignature(secret, bytes(pushBody), new Headers({ "X-Gitlab-Token": secret }))).toBe(true);
  });

  it("accepts Node's plain header objects", () => {
    expect(verifyWebhookSignature(secret, bytes(pushBody), { "x-hub-signature-256": `sha256=${hmac(pushBody)}` })).toBe(true);
  });

  it.each([
    ["no signature header", {}],
    ["a signature made with another secret", { "X-Hub-Signature-256": `sha256=${hmac(pushBody, "other")}` }],
    ["a signature of another body", { "X-Gitea-Signature": hmac(`${pushBody} `) }],
    ["a GitHub signature without its sha256= prefix", { "X-Hub-Signature-256": hmac(pushBody) }],
    ["a truncated signature", { "X-Hub-Signature-256": `sha256=${hmac(pushBody).slice(0, 40)}` }],
    ["a signature with trailing junk", { "X-Gitea-Signature": `${hmac(pushBody)}zz` }],
    ["a signature that is not hex", { "X-Gitea-Signature": "z".repeat(64) }],
    ["a wrong GitLab token", { "X-Gitlab-Token": "webhook-secreT" }],
    ["a GitLab token of another length", { "X-Gitlab-Token": "short" }],
  ])("rejects %s", (_, headers: Record<string, string>) => {
    expect(verifyWebhookSignature(secret, bytes(pushBody), new Headers(headers))).toBe(false);
  });

  it("verifies nothing with an empty secret, however the request is signed", () => {
    const headers = new Headers({ "X-Hub-Signature-256": `sha256=${hmac(pushBody, "")}`, "X-Gitlab-Token": "" });
    expect(verifyWebhookSignature("", bytes(pushBody), headers)).toBe(false);
  });
});

describe("parsePushEvent", () => {
  it("keeps only the ref and the new sha of a full push payload", () => {
    expect(parsePushEvent(bytes(pushBody))).toEqual({ ref: "refs/heads/main", after: sha });
  });

  it("accepts payloads without them (a GitHub ping)", () => {
    expect(parsePushEvent('{"zen":"Keep it simple.","hook_id":1}')).toEqual({});
  });

  it("reads GitHub's form-encoded payload", () => {
    const form = new URLSearchParams({ payload: pushBody }).toString();
    expect(parsePushEvent(form, "application/x-www-form-urlencoded")).toEqual({ ref: "refs/heads/main", after: sha });
  });

  it.each([
    ["malformed JSON", "{not json", /not valid JSON/],
    ["a JSON array", "[1,2]", /webhook body/],
    ["a numeric ref", '{"ref": 7}', /webhook body: ref:/],
    ["an after that is not a sha", '{"after": "HEAD"}', /webhook body: after:/],
  ])("rejects %s with a BadRequestError", (_, body, message) => {
    expect(() => parsePushEvent(body)).toThrow(BadRequestError);
    expect(() => parsePushEvent(body)).toThrow(message);
  });
});

describe(`webhookRoute (POST ${WEBHOOK_PATH})`, () => {
  function appWith(options: { maxBodyBytes?: number } = {}) {
    const pushes: PushEvent[] = [];
    const app = new Hono();
    app.post(WEBHOOK_PATH, webhookRoute({ secret, branch: "main", onPush: (event) => pushes.push(event), ...options }));
    return { app, pushes };
  }
  const post = (app: Hono, body: string, headers: Record<string, string>) =>
    app.request(WEBHOOK_PATH, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

  it.each([
    ["GitHub", { "X-GitHub-Event": "push", "X-Hub-Signature-256": `sha256=${hmac(pushBody)}` }],
    ["Gitea", { "X-Gitea-Event": "push", "X-Gitea-Signature": hmac(pushBody) }],
    ["GitLab", { "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret }],
  ])("answers 202 to a signed %s push to the branch and calls onPush", async (_, headers) => {
    const { app, pushes } = appWith();
    const response = await post(app, pushBody, headers);
    expect(response.status).toBe(202);
    expect(pushes).toEqual([{ ref: "refs/heads/main", after: sha }]);
  });

  it("answers 200 and does nothing for a push to another branch", async () => {
    const { app, pushes } = appWith();
    const body = JSON.stringify({ ref: "refs/heads/feature", after: sha });
    const response = await post(app, body, { "X-Hub-Signature-256": `sha256=${hmac(body)}` });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ignored: "push to refs/heads/feature, not main" });
    expect(pushes).toEqual([]);
  });

  it("answers 401 without calling onPush when the signature is missing or wrong", async () => {
    const { app, pushes } = appWith();
    expect((await post(app, pushBody, {})).status).toBe(401);
    expect((await post(app, pushBody, { "X-Hub-Signature-256": `sha256=${hmac(pushBody, "guess")}` })).status).toBe(401);
    expect((await post(app, pushBody, { "X-Gitlab-Token": "guess" })).status).toBe(401);
    expect(pushes).toEqual([]);
  });

  it("answers 400 to a signed body that is not JSON", async () => {
    const { app, pushes } = appWith();
    const body = "{ref: main";
    const response = await post(app, body, { "X-Gitea-Signature": hmac(body) });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "webhook body is not valid JSON" });
    expect(pushes).toEqual([]);
  });

  it("answers 413 to a body over the bound, from its Content-Length", async () => {
    const { app, pushes } = appWith({ maxBodyBytes: 1024 });
    const body = JSON.stringify({ ref: "refs/heads/main", padding: "x".repeat(2048) });
    const response = await post(app, body, { "X-Hub-Signature-256": `sha256=${hmac(body)}`, "content-length": String(body.length) });
    expect(response.status).toBe(413);
    expect(pushes).toEqual([]);
  });

  it("answers 413 to a streamed body as soon as it passes the bound, without reading the rest", async () => {
    const { app } = appWith({ maxBodyBytes: 64 * 1024 });
    let chunksPulled = 0;
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        chunksPulled++;
        controller.enqueue(chunk);
      },
    });
    const response = await app.request(WEBHOOK_PATH, {
      method: "POST",
      body: endless,
      headers: { "content-type": "application/json", "X-Gitlab-Token": secret },
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(chunksPulled).toBeLessThan(10);
  });

  it("refuses to be set up without a secret", () => {
    expect(() => webhookRoute({ secret: "", branch: "main", onPush: () => undefined })).toThrow(ConfigError);
  });
});
