import { describe, expect, it } from "vitest";
import { podWarnings, warningKey } from "../../../src/nodes/client/pod-warnings.ts";
import type { ContainerStatus, PodStatus } from "../../../src/nodes/protocol.ts";

/** Which reported pod states become Warning events (the node manager records each once per appearance). */

function container(name: string, state: ContainerStatus["state"]): ContainerStatus {
  return { name, runtime: "process", state, ready: false, started: false, restartCount: 0, ports: {} };
}

function pod(fields: Partial<PodStatus>): PodStatus {
  return { uid: "u1", namespace: "default", name: "web-1", phase: "Pending", ready: false, initContainerStatuses: [], containerStatuses: [], ...fields };
}

describe("podWarnings", () => {
  it.each([
    ["a container on its way", pod({ containerStatuses: [container("web", { waiting: { reason: "ContainerCreating" } })] }), []],
    ["a crash loop (its own back-off, not a blocked start)", pod({ containerStatuses: [container("web", { waiting: { reason: "CrashLoopBackOff", message: "back-off 10s" } })] }), []],
    ["a running pod", pod({ phase: "Running", containerStatuses: [container("web", { running: { startedAt: "2026-01-01T00:00:00Z" } })] }), []],
    [
      "a missing key, in an init container and an app container",
      pod({
        initContainerStatuses: [container("init", { waiting: { reason: "CreateContainerConfigError", message: 'secret "db" not found' } })],
        containerStatuses: [container("web", { waiting: { reason: "PodInitializing" } })],
      }),
      [{ reason: "CreateContainerConfigError", message: 'container init: secret "db" not found' }],
    ],
    [
      "a command that is not there",
      pod({ containerStatuses: [container("web", { waiting: { reason: "RunContainerError", message: 'exec: "nope": ENOENT' } })] }),
      [{ reason: "RunContainerError", message: 'container web: exec: "nope": ENOENT' }],
    ],
    [
      "a pod that failed its active deadline",
      pod({ phase: "Failed", reason: "DeadlineExceeded", message: "Pod was active on the node longer than the specified deadline" }),
      [{ reason: "DeadlineExceeded", message: "Pod was active on the node longer than the specified deadline" }],
    ],
  ] as const)("%s", (_name, status, expected) => {
    expect(podWarnings(status)).toEqual(expected);
  });

  it("keys a warning by reason and message, so a changed message is a new warning", () => {
    const first = warningKey({ reason: "CreateContainerConfigError", message: "container web: a" });
    expect(warningKey({ reason: "CreateContainerConfigError", message: "container web: a" })).toBe(first);
    expect(warningKey({ reason: "CreateContainerConfigError", message: "container web: b" })).not.toBe(first);
  });
});
