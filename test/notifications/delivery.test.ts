import { describe, expect, it } from "vitest";
import { decide, renderBody, sign, verifySignature, type PostResult, type RetryPolicy } from "../../src/notifications/index.ts";
import { redactNotifierUrl } from "../../src/notifications/payload.ts";

/** What an answer means for a delivery (pure), and the wire format's signature. */

const policy: RetryPolicy = { backoff: { initialMs: 1_000, maxMs: 300_000, jitter: 0 }, maxAttempts: 20, giveUpAfterMs: 24 * 3_600_000 };
const created = new Date("2026-01-01T00:00:00Z");
const now = new Date("2026-01-01T00:01:00Z");
const answered = (status: number, retryAfterMs?: number): PostResult => ({ kind: "answered", status, statusText: "", excerpt: "", ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
const refused: PostResult = { kind: "unreachable", error: "could not reach http://127.0.0.1:9: ECONNREFUSED" };

describe("decide", () => {
  const cases: { name: string; result: PostResult; attempts: number; at?: Date; expect: string }[] = [
    { name: "200 is delivered", result: answered(200), attempts: 1, expect: "delivered" },
    { name: "204 is delivered", result: answered(204), attempts: 3, expect: "delivered" },
    { name: "400 fails for good", result: answered(400), attempts: 1, expect: "failed" },
    { name: "401 (refused signature) fails for good", result: answered(401), attempts: 1, expect: "failed" },
    { name: "a redirect is not followed and fails", result: answered(302), attempts: 1, expect: "failed" },
    { name: "408 is retried", result: answered(408), attempts: 1, expect: "retry +1000" },
    { name: "429 is retried", result: answered(429), attempts: 2, expect: "retry +2000" },
    { name: "429 with Retry-After waits as asked", result: answered(429, 30_000), attempts: 1, expect: "retry +30000" },
    { name: "Retry-After beyond the cap is capped", result: answered(503, 3_600_000), attempts: 1, expect: "retry +300000" },
    { name: "500 is retried, doubling", result: answered(500), attempts: 4, expect: "retry +8000" },
    { name: "the ninth attempt waits 256 s", result: answered(502), attempts: 9, expect: "retry +256000" },
    { name: "the doubling stops at the cap", result: answered(502), attempts: 12, expect: "retry +300000" },
    { name: "a refused connection is retried", result: refused, attempts: 1, expect: "retry +1000" },
    { name: "the last allowed attempt gives up", result: refused, attempts: 20, expect: "failed" },
    { name: "a delivery past its age limit gives up", result: answered(503), attempts: 2, at: new Date(created.getTime() + 24 * 3_600_000), expect: "failed" },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      const at = testCase.at ?? now;
      const verdict = decide(testCase.result, testCase.attempts, created, at, policy);
      const summary = verdict.type === "retry" ? `retry +${verdict.at.getTime() - at.getTime()}` : verdict.type;
      expect(summary).toBe(testCase.expect);
    });
  }

  it("jitter stays between half the ceiling and the ceiling", () => {
    const jittered = { ...policy, backoff: { ...policy.backoff, jitter: 0.5 } };
    for (const random of [0, 0.5, 0.999]) {
      const verdict = decide(refused, 3, created, now, jittered, () => random);
      const delay = verdict.type === "retry" ? verdict.at.getTime() - now.getTime() : -1;
      expect(delay).toBeGreaterThanOrEqual(2_000);
      expect(delay).toBeLessThanOrEqual(4_000);
    }
  });

  it("failures say what the receiver answered", () => {
    expect(decide({ kind: "answered", status: 404, statusText: "Not Found", excerpt: "no such hook" }, 1, created, now, policy)).toEqual({
      type: "failed",
      error: "HTTP 404 Not Found: no such hook",
      status: 404,
    });
    expect(decide(refused, 20, created, now, policy)).toMatchObject({ error: `gave up after 20 attempts: ${refused.error}` });
  });
});

describe("wire format", () => {
  const notification = {
    type: "RolloutFailed" as const,
    idempotencyKey: "event-7-1767225600-2",
    object: { kind: "Deployment", namespace: "shop", name: "web" },
    revision: "a".repeat(40),
    message: "Rollout of commit aaaaaaa failed: ProgressDeadlineExceeded",
    reason: "RolloutFailed",
    time: "2026-01-01T00:00:00.000Z",
  };

  it("signs the exact body: sha256=<hex HMAC-SHA256>, checked in constant time", () => {
    const key = Buffer.from("key");
    const body = renderBody("json", notification);
    expect(JSON.parse(body)).toEqual(notification);
    // `echo -n hello | openssl dgst -sha256 -hmac key`, computed outside capstan.
    expect(sign(key, "hello")).toBe("sha256=9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b");
    expect(verifySignature(key, body, sign(key, body))).toBe(true);
    expect(verifySignature(key, `${body} `, sign(key, body))).toBe(false);
    expect(verifySignature(key, body, undefined)).toBe(false);
  });

  it("slack text reads as a sentence", () => {
    expect(JSON.parse(renderBody("slack", notification)).text).toBe(
      ":x: RolloutFailed: Deployment shop/web (commit aaaaaaa): Rollout of commit aaaaaaa failed: ProgressDeadlineExceeded",
    );
  });

  it("shows a receiver's URL as scheme and host only", () => {
    expect(redactNotifierUrl("https://hooks.slack.com/services/T0/B0/s3cr3t?x=1")).toBe("https://hooks.slack.com");
    expect(redactNotifierUrl("http://user:pw@127.0.0.1:8080/h")).toBe("http://127.0.0.1:8080");
  });
});
