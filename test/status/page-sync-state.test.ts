import { describe, expect, it } from "vitest";
import type { Revision, SyncState } from "../../src/desired/index.ts";
import { syncStatus } from "../../src/status/page/index.ts";

/** The header's sync state, a pure decision from the stored sync state and the newest revision. */

const sha = (digit: string) => digit.repeat(40);
const state = (fields: Partial<SyncState> = {}): SyncState => ({
  url: "https://git.example.com/m.git",
  branch: "main",
  path: "",
  lastFetchAt: new Date("2026-11-23T12:00:00Z"),
  lastSuccessAt: new Date("2026-11-23T12:00:00Z"),
  lastError: null,
  unreachableSince: null,
  liveSha: sha("a"),
  lastSeenSha: sha("a"),
  ...fields,
});
const revision = (fields: Partial<Revision>): Revision => ({
  id: 1,
  sha: sha("a"),
  parentSha: null,
  authorName: "Ada",
  authorEmail: "ada@example.com",
  message: "subject\n\nbody",
  committedAt: new Date("2026-11-23T11:00:00Z"),
  state: "applied",
  errors: [],
  warnings: [],
  objectCount: 1,
  seenAt: new Date("2026-11-23T11:00:00Z"),
  appliedAt: new Date("2026-11-23T11:00:00Z"),
  ...fields,
});
const problem = { file: "web/deployment.yaml", line: 12, column: 7, path: "spec.replicas", message: "expected number", severity: "error" as const };

describe("syncStatus", () => {
  it.each([
    { case: "no fetch yet", sync: null, newest: null, expected: { state: "syncing", detail: "waiting for the first fetch" } },
    { case: "the live commit is the newest", sync: state(), newest: revision({}), expected: { state: "in-sync" } },
    {
      case: "the newest commit was rejected",
      sync: state(),
      newest: revision({ sha: sha("b"), state: "rejected", errors: [problem], message: "break it\n\nbody" }),
      expected: { state: "rejected", sha: sha("b"), subject: "break it", errors: ["web/deployment.yaml:12:7 spec.replicas: expected number"] },
    },
    { case: "a commit is being applied", sync: state({ lastSeenSha: sha("a") }), newest: revision({ sha: sha("c"), state: "pending" }), expected: { state: "syncing", detail: `applying ${sha("c").slice(0, 10)}` } },
    { case: "later sync waves still wait", sync: state({ lastSeenSha: sha("9") }), newest: revision({}), expected: { state: "syncing", detail: "applying the rest of the live commit" } },
  ])("$case", ({ sync, newest, expected }) => {
    expect(syncStatus(sync, newest)).toEqual(expected);
  });

  it("says unreachable, with the error redacted, before anything else", () => {
    const since = new Date("2026-11-23T11:55:00Z");
    const status = syncStatus(state({ unreachableSince: since, lastError: "fetch https://bot:tok3n@git.example.com/m.git: ECONNREFUSED" }), revision({ state: "rejected", sha: sha("b") }));
    expect(status).toEqual({ state: "unreachable", since, error: "fetch https://git.example.com/m.git: ECONNREFUSED" });
  });
});
