import { describe, expect, it } from "vitest";
import { RollbackRefusedError } from "../../src/errors.ts";
import { chooseTarget, isRollbackCommit, rollbackMessage, rollbackRequestSchema, type HistoryPoint } from "../../src/gitsync/rollback-plan.ts";

const sha = (digit: string) => digit.repeat(40);
const point = (digit: string, state: HistoryPoint["state"], health: HistoryPoint["health"]): HistoryPoint => ({ sha: sha(digit), state, health });

describe("chooseTarget: which commit a rollback restores", () => {
  // Newest first, as the history lists them.
  const history = [
    point("6", "rejected", null),
    point("5", "applied", "failed"),
    point("4", "superseded", null),
    point("3", "applied", "superseded"),
    point("2", "applied", "healthy"),
    point("1", "applied", "healthy"),
  ];

  it.each([
    { case: "the newest healthy applied revision older than the live one", live: sha("5"), to: undefined, expected: sha("2") },
    { case: "older than the live one even when newer ones are healthy", live: sha("2"), to: undefined, expected: sha("1") },
    { case: "--to a unique prefix", live: sha("5"), to: "3333", expected: sha("3") },
    { case: "--to a full sha capstan never saw is taken as is (Git decides)", live: sha("5"), to: "a".repeat(40), expected: "a".repeat(40) },
  ])("$case", ({ live, to, expected }) => {
    expect(chooseTarget(history, live, to)).toBe(expected);
  });

  it.each([
    { case: "nothing healthy before the live one", history, live: sha("1"), to: undefined, message: /no healthy revision before the live one/ },
    { case: "no live revision", history, live: null, to: undefined, message: /no live revision/ },
    { case: "an unknown short prefix", history, live: sha("5"), to: "abcd", message: /no commit starting with abcd/ },
    { case: "an ambiguous prefix", history: [point("1", "applied", "healthy"), { sha: `${"1".repeat(39)}2`, state: "applied" as const, health: "healthy" as const }], live: null, to: "1111", message: /ambiguous/ },
  ])("refuses: $case", ({ history: points, live, to, message }) => {
    expect(() => chooseTarget(points, live, to)).toThrow(RollbackRefusedError);
    expect(() => chooseTarget(points, live, to)).toThrow(message);
  });
});

describe("rollbackMessage: what the revert commit says", () => {
  const target = { sha: sha("2"), parentSha: sha("1"), authorName: "a", authorEmail: "a@x", message: "web v1\n\nbody", committedAt: new Date(0) };

  it("names the target and carries the trailers", () => {
    expect(rollbackMessage({ fromSha: sha("5"), target, requestedBy: "ada@host" })).toBe(
      `Revert to 2222222: web v1\n\nCapstan-Rollback-From: ${sha("5")}\nCapstan-Rollback-To: ${sha("2")}\nCapstan-Requested-By: ada@host\n`,
    );
  });

  it("names the workload when only its files are restored, and the broken commit for an auto-revert", () => {
    const message = rollbackMessage({
      fromSha: sha("5"),
      target,
      requestedBy: "capstan auto-revert",
      workload: { kind: "Deployment", namespace: "default", name: "web" },
      autoRevert: { sha: sha("5"), subject: "web v2", reason: "ProgressDeadlineExceeded" },
    });
    expect(message.split("\n")[0]).toBe("Revert 5555555: web v2");
    expect(message).toContain("the rollout of Deployment/default/web failed: ProgressDeadlineExceeded.");
    expect(message).toContain("Capstan-Rollback-Workload: Deployment/default/web\n");
    expect(message).toContain(`Capstan-Auto-Revert-Of: ${sha("5")}\n`);
    expect(isRollbackCommit(message)).toBe(true);
  });

  it("tells a rollback commit from an ordinary one by its trailers only", () => {
    expect(isRollbackCommit("web v2\n\nMentions Capstan-Rollback-From: in prose")).toBe(false);
    expect(isRollbackCommit(`Revert to 2222222: web v1\n\nCapstan-Rollback-From: ${sha("5")}`)).toBe(true);
  });
});

describe("rollbackRequestSchema: the API's rollback body", () => {
  it.each([
    { input: { workload: "deployment/web" }, workload: { kind: "Deployment", namespace: "default", name: "web" } },
    { input: { workload: "daemonset/logs/shipper" }, workload: { kind: "DaemonSet", namespace: "logs", name: "shipper" } },
  ])("reads $input.workload", ({ input, workload }) => {
    expect(rollbackRequestSchema.parse(input)).toEqual({ workload, dryRun: false, requestedBy: "unknown" });
  });

  it.each([{ to: "HEAD" }, { to: "abc" }, { workload: "web" }, { force: true }])("refuses %o", (input) => {
    expect(rollbackRequestSchema.safeParse(input).success).toBe(false);
  });
});
