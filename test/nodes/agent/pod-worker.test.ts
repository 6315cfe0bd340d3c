import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { systemClock, type Clock } from "../../../src/clock.ts";
import { silentLogger } from "../../../src/logging.ts";
import type { PodRecord } from "../../../src/nodes/agent/pod-record.ts";
import {
  activeDeadlineRemainingMs,
  formatGoDuration,
  kubeletBackoff,
  planRestart,
  podPhase,
  PodWorker,
  shouldRestart,
  type ContainerRole,
  type PhaseInput,
} from "../../../src/nodes/agent/pod-worker.ts";
import { hostsFileContent } from "../../../src/nodes/agent/hosts-file.ts";
import { createProcessRuntime } from "../../../src/nodes/agent/runtime/process.ts";
import type { ContainerRuntime } from "../../../src/nodes/agent/runtime/types.ts";
import { agentPodSchema, type AgentPod, type ContainerStatus, type PodPhase, type RuntimeName } from "../../../src/nodes/protocol.ts";
import type { RestartPolicy } from "../../../src/desired/index.ts";
import { alive, processesOfAgent } from "../../helpers/agent.ts";
import { eventually } from "../../helpers/eventually.ts";
import { ManualClock } from "../../helpers/manual-clock.ts";

/** The pod worker against the real process runtime: real children, a manual clock for back-off and probe periods. */

const runtimes = new Map<RuntimeName, ContainerRuntime>([["process", createProcessRuntime({ stopPollMs: 50 })]]);
let root: string;
let agentId: string;
const workers: PodWorker[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "capstan-pod-worker-"));
  agentId = `pod-worker-test-${randomUUID()}`;
});

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop({ graceMs: 0 });
  for (const pid of await processesOfAgent(agentId)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // not a group leader, or gone
    }
  }
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
function pod(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): AgentPod {
  counter += 1;
  return agentPodSchema.parse({ uid: `uid-${counter}`, namespace: "default", name: `pod-${counter}`, spec: { terminationGracePeriodSeconds: 1, ...spec }, ...extra });
}

function sh(name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, command: ["sh", "-c", script], ...extra };
}

interface Started {
  worker: PodWorker;
  podDir: string;
  changes: () => number;
  main: () => ContainerStatus;
  phase: () => PodPhase;
}

async function startWorker(agentPod: AgentPod, options: { clock?: Clock; record?: PodRecord; usageIntervalMs?: number } = {}): Promise<Started> {
  const podDir = join(root, "pods", agentPod.uid);
  let changes = 0;
  const worker = new PodWorker({
    pod: agentPod,
    podDir,
    secretDir: join(root, "secrets", agentPod.uid),
    claimsDir: join(root, "claims"),
    agentId,
    runtimes,
    hostIP: "127.0.0.1",
    nodeName: "node-1",
    clock: options.clock ?? new ManualClock(),
    log: silentLogger,
    ...(options.record ? { record: options.record } : {}),
    ...(options.usageIntervalMs ? { usageIntervalMs: options.usageIntervalMs } : {}),
    onChange: () => {
      changes += 1;
    },
  });
  workers.push(worker);
  await worker.start();
  return {
    worker,
    podDir,
    changes: () => changes,
    main: () => worker.status().containerStatuses[0]!,
    phase: () => worker.status().phase,
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Advances the manual clock a step at a time until `check` passes. */
function eventuallyAdvancing<T>(clock: ManualClock, stepMs: number, check: () => T): Promise<T> {
  return eventually(async () => {
    await clock.advance(stepMs);
    return check();
  }, 10_000);
}

describe("pure decisions", () => {
  it.each([
    [0, 0, 0, 1],
    [1, 0, 10_000, 2],
    [2, 5_000, 20_000, 3],
    [3, 0, 40_000, 4],
    [5, 0, 160_000, 6],
    [6, 0, 300_000, 7],
    [40, 0, 300_000, 41],
    // A run of 10 minutes forgets the back-off: the next restart is immediate again.
    [6, 600_000, 0, 1],
    [6, 599_999, 300_000, 7],
  ])("planRestart(step %i, ran %i ms) waits %i ms, then step %i", (step, ranMs, delayMs, next) => {
    expect(planRestart(step, ranMs, kubeletBackoff)).toEqual({ delayMs, step: next });
  });

  const restartCases: [ContainerRole, RestartPolicy, boolean, boolean][] = [
    ["app", "Always", false, true],
    ["app", "Always", true, true],
    ["app", "OnFailure", false, false],
    ["app", "OnFailure", true, true],
    ["app", "Never", true, false],
    ["app", "Never", false, false],
    ["init", "Always", true, true],
    ["init", "Always", false, false],
    ["init", "OnFailure", true, true],
    ["init", "Never", true, false],
    ["sidecar", "Never", false, true],
    ["sidecar", "OnFailure", false, true],
  ];
  it.each(restartCases)("shouldRestart(%s, %s, failed %s) = %s", (role, policy, failed, expected) => {
    expect(shouldRestart(role, policy, failed)).toBe(expected);
  });

  const app = (everRan: boolean, terminal: boolean, succeeded: boolean) => ({ everRan, terminal, succeeded });
  const phaseCases: [string, PhaseInput, PodPhase][] = [
    ["init running", { initFailed: false, initDone: false, apps: [app(false, false, false)] }, "Pending"],
    ["init failed for good", { initFailed: true, initDone: false, apps: [app(false, false, false)] }, "Failed"],
    ["one app not started yet", { initFailed: false, initDone: true, apps: [app(true, false, false), app(false, false, false)] }, "Pending"],
    ["all started", { initFailed: false, initDone: true, apps: [app(true, false, false), app(true, false, false)] }, "Running"],
    ["one done, one running", { initFailed: false, initDone: true, apps: [app(true, true, true), app(true, false, false)] }, "Running"],
    ["all succeeded", { initFailed: false, initDone: true, apps: [app(true, true, true), app(true, true, true)] }, "Succeeded"],
    ["one failed for good", { initFailed: false, initDone: true, apps: [app(true, true, true), app(true, true, false)] }, "Failed"],
    ["could not start, for good", { initFailed: false, initDone: true, apps: [app(false, true, false)] }, "Failed"],
  ];
  it.each(phaseCases)("podPhase: %s → %s", (_name, input, expected) => {
    expect(podPhase(input)).toBe(expected);
  });

  it.each([
    [10_000, "10s"],
    [80_000, "1m20s"],
    [300_000, "5m0s"],
    [500, "500ms"],
    [1_500, "1.5s"],
    [3_600_000, "1h0m0s"],
  ])("formatGoDuration(%i) = %s", (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});

describe("restart policy and back-off", () => {
  it("restarts a crashing container at once, then after 10 s, then 20 s", async () => {
    const clock = new ManualClock();
    const p = pod({ containers: [sh("main", "exit 1")] });
    const { main, phase } = await startWorker(p, { clock });

    // The first restart needs no clock time at all.
    await eventually(() => {
      expect(main().restartCount).toBe(1);
      expect(main().state).toEqual({
        waiting: { reason: "CrashLoopBackOff", message: `back-off 10s restarting failed container=main pod=default/${p.name}` },
      });
    });
    expect(main().lastState).toMatchObject({ terminated: { exitCode: 1, reason: "Error" } });
    expect(phase()).toBe("Running");
    expect(main().ready).toBe(false);

    await clock.advance(9_999);
    await pause(300);
    expect(main().restartCount).toBe(1);
    await clock.advance(1);
    await eventually(() => {
      expect(main().restartCount).toBe(2);
      expect(main().state).toMatchObject({ waiting: { reason: "CrashLoopBackOff", message: expect.stringContaining("back-off 20s") } });
    });

    await clock.advance(19_999);
    await pause(300);
    expect(main().restartCount).toBe(2);
    await clock.advance(1);
    await eventually(() => {
      expect(main().restartCount).toBe(3);
      expect(main().state).toMatchObject({ waiting: { message: expect.stringContaining("back-off 40s") } });
    });
  });

  it("OnFailure restarts a failure and stops after an exit 0", async () => {
    const clock = new ManualClock();
    // Fails on its first run, succeeds on the second.
    const script = "if [ -f ran ]; then exit 0; fi; touch ran; exit 1";
    const { main, phase, worker } = await startWorker(pod({ restartPolicy: "OnFailure", containers: [sh("main", script)] }), { clock });
    await eventually(() => expect(phase()).toBe("Succeeded"));
    expect(main().restartCount).toBe(1);
    expect(main().state).toMatchObject({ terminated: { exitCode: 0, reason: "Completed" } });
    expect(main().lastState).toMatchObject({ terminated: { exitCode: 1, reason: "Error" } });
    expect(worker.record().containers.main).toMatchObject({ succeeded: true, restartCount: 1 });
    expect(worker.record().containers.main!.current).toBeUndefined();

    await clock.advance(3_600_000);
    await pause(200);
    expect(main().restartCount).toBe(1);
  });

  it("Never leaves the pod Succeeded or Failed by the exit codes", async () => {
    const succeeded = await startWorker(pod({ restartPolicy: "Never", containers: [sh("main", "exit 0"), sh("other", "exit 0")] }));
    const failed = await startWorker(pod({ restartPolicy: "Never", containers: [sh("main", "exit 0"), sh("other", "exit 3")] }));
    await eventually(() => {
      expect(succeeded.phase()).toBe("Succeeded");
      expect(failed.phase()).toBe("Failed");
    });
    const other = failed.worker.status().containerStatuses[1]!;
    expect(other.state).toMatchObject({ terminated: { exitCode: 3, reason: "Error" } });
    expect(other.restartCount).toBe(0);
    expect(failed.worker.status().ready).toBe(false);
  });
});

describe("init containers", () => {
  it("run one at a time, in order, before the app containers", async () => {
    const p = pod({
      // Never: an init container that ran out of order would fail the pod instead of being retried.
      restartPolicy: "Never",
      initContainers: [sh("first", "sleep 0.3; echo from-first > shared"), sh("second", "cat shared > copied")],
      containers: [sh("main", "cat copied > seen; exec sleep 30")],
    });
    const { worker, podDir, phase } = await startWorker(p);
    expect(phase()).toBe("Pending");
    expect(worker.status().containerStatuses[0]!.state).toEqual({ waiting: { reason: "PodInitializing" } });
    await eventually(() => expect(phase()).toBe("Running"));
    // Running = the app container was started; its first command may still be on its way.
    await eventually(async () => expect(await readFile(join(podDir, "seen"), "utf8")).toBe("from-first\n"));
    for (const init of worker.status().initContainerStatuses) {
      expect(init.state).toMatchObject({ terminated: { exitCode: 0, reason: "Completed" } });
    }
    expect(worker.record().containers.first!.succeeded).toBe(true);
  });

  it("fail the pod when one fails under restartPolicy Never, and the app containers never start", async () => {
    const p = pod({ restartPolicy: "Never", initContainers: [sh("setup", "exit 2")], containers: [sh("main", "touch started; sleep 30")] });
    const { worker, podDir, phase } = await startWorker(p);
    await eventually(() => expect(phase()).toBe("Failed"));
    expect(worker.status().initContainerStatuses[0]!.state).toMatchObject({ terminated: { exitCode: 2 } });
    await expect(stat(join(podDir, "started"))).rejects.toThrow();
  });

  it("start a sidecar before the next one and keep it running; it ends with the app containers", async () => {
    const p = pod({
      restartPolicy: "Never",
      initContainers: [
        // Started = its startup probe passed, which takes until it has written side-up.
        sh("side", "sleep 0.3; touch side-up; exec sleep 30", {
          restartPolicy: "Always",
          startupProbe: { exec: { command: ["test", "-f", "side-up"] }, periodSeconds: 1, failureThreshold: 10 },
        }),
        // Under Never, running before the sidecar has started would fail the pod.
        sh("after", "test -f side-up"),
      ],
      containers: [sh("main", "sleep 0.3")],
    });
    const { worker, phase } = await startWorker(p, { clock: systemClock });
    await eventually(() => expect(worker.status().initContainerStatuses[0]!.state).toHaveProperty("running"));
    await eventually(() => expect(phase()).toBe("Succeeded"));
    // The phase follows the app containers (as Kubernetes' sidecar KEP says); the sidecar is stopped right after.
    await eventually(() => expect(worker.status().initContainerStatuses[0]!.state).toHaveProperty("terminated"));
    const side = worker.status().initContainerStatuses[0]!;
    expect(side.restartCount).toBe(0);
    expect(worker.status().initContainerStatuses[1]!.state).toMatchObject({ terminated: { exitCode: 0 } });
  });
});

describe("probes", () => {
  it("a readiness probe makes the container ready, then not ready when the server fails", async () => {
    const clock = new ManualClock();
    const server = "require('http').createServer((q,s)=>{s.statusCode=require('fs').existsSync('unready')?500:200;s.end('ok')}).listen(process.env.PORT)";
    const p = pod({
      containers: [
        {
          name: "web",
          command: ["node", "-e", server],
          ports: [{ name: "http", containerPort: 8080 }],
          readinessProbe: { httpGet: { port: "http", path: "/" }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const { worker, podDir, main } = await startWorker(p, { clock });
    await eventually(() => expect(main().state).toHaveProperty("running"));
    expect(main().ready).toBe(false);
    const hostPort = main().ports.http!;
    expect(hostPort).toBeGreaterThan(0);

    await eventuallyAdvancing(clock, 1000, () => expect(main().ready).toBe(true));
    expect(worker.status()).toMatchObject({ phase: "Running", ready: true });
    expect(await (await fetch(`http://127.0.0.1:${hostPort}/`)).text()).toBe("ok");

    await writeFile(join(podDir, "unready"), "");
    await eventuallyAdvancing(clock, 1000, () => expect(main().ready).toBe(false));
    expect(worker.status()).toMatchObject({ phase: "Running", ready: false });
    expect(main().restartCount).toBe(0);

    await rm(join(podDir, "unready"));
    await eventuallyAdvancing(clock, 1000, () => expect(main().ready).toBe(true));
  });

  it("a failing liveness probe restarts the container with the reason in lastState", async () => {
    const clock = new ManualClock();
    const p = pod({
      containers: [
        {
          name: "main",
          command: ["sleep", "30"],
          livenessProbe: { exec: { command: ["sh", "-c", "test ! -f dead"] }, periodSeconds: 1, failureThreshold: 2 },
        },
      ],
    });
    const { podDir, main } = await startWorker(p, { clock });
    await eventually(() => expect(main().started).toBe(true));
    const firstPid = main().pid!;

    // Healthy: periods pass with no restart.
    await clock.advance(1000);
    await clock.advance(1000);
    await pause(200);
    expect(main().restartCount).toBe(0);

    await writeFile(join(podDir, "dead"), "");
    await eventuallyAdvancing(clock, 1000, () => expect(main().restartCount).toBe(1));
    await rm(join(podDir, "dead"));
    expect(main().lastState).toMatchObject({ terminated: { reason: "Error", message: expect.stringMatching(/^Liveness probe failed: /) } });
    await eventually(() => expect(main().state).toHaveProperty("running"));
    expect(main().pid).not.toBe(firstPid);
    expect(alive(firstPid)).toBe(false);
  });

  it("a startup probe holds liveness and readiness back until it passes", async () => {
    const clock = new ManualClock();
    const p = pod({
      containers: [
        {
          name: "main",
          command: ["sleep", "30"],
          startupProbe: { exec: { command: ["test", "-f", "booted"] }, periodSeconds: 1, failureThreshold: 30 },
          // Would kill the container at once if it ran before the startup probe passed.
          livenessProbe: { exec: { command: ["test", "-f", "booted"] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const { podDir, main } = await startWorker(p, { clock });
    await eventually(() => expect(main().state).toHaveProperty("running"));
    for (let i = 0; i < 3; i += 1) await clock.advance(1000);
    await pause(200);
    expect(main()).toMatchObject({ started: false, ready: false, restartCount: 0 });
    await writeFile(join(podDir, "booted"), "");
    await eventuallyAdvancing(clock, 1000, () => expect(main()).toMatchObject({ started: true, ready: true }));
    expect(main().restartCount).toBe(0);
  });
});

describe("hooks and stopping", () => {
  it("stop() SIGKILLs a container that ignores SIGTERM once terminationGracePeriodSeconds is spent", async () => {
    const p = pod({ terminationGracePeriodSeconds: 1, containers: [sh("main", "trap '' TERM; touch trapped; while true; do sleep 0.1; done")] });
    const { worker, podDir, main } = await startWorker(p, { clock: systemClock });
    await eventually(() => stat(join(podDir, "trapped")));
    const pid = main().pid!;
    const started = Date.now();
    await worker.stop();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5000);
    expect(alive(pid)).toBe(false);
    expect(main().state).toMatchObject({ terminated: { signal: "SIGKILL" } });
    expect(await processesOfAgent(agentId)).toEqual([]);
  });

  it("runs postStart after the start and preStop before SIGTERM, and removes the pod's volumes", async () => {
    const p = pod({
      volumes: [{ name: "scratch", emptyDir: {} }],
      containers: [
        sh("main", "trap 'echo term >> ../events; exit 0' TERM; echo started >> ../events; while true; do sleep 0.1; done", {
          lifecycle: {
            postStart: { exec: { command: ["sh", "-c", "echo poststart >> ../events"] } },
            preStop: { exec: { command: ["sh", "-c", "echo prestop >> ../events"] } },
          },
          volumeMounts: [{ name: "scratch", mountPath: "/unused-scratch" }],
        }),
      ],
    });
    const { worker, podDir, main } = await startWorker(p, { clock: systemClock });
    await eventually(async () => {
      expect(main().started).toBe(true);
      expect((await readFile(join(podDir, "..", "events"), "utf8")).split("\n").sort()).toEqual(["", "poststart", "started"]);
    });
    await stat(join(podDir, "volumes"));
    await worker.stop();
    expect(await readFile(join(podDir, "..", "events"), "utf8")).toMatch(/prestop\nterm\n$/);
    // The events file sits beside the pod's directory: the directory itself (volumes, logs) goes with the pod.
    await expect(stat(join(podDir, "volumes"))).rejects.toThrow();
    await expect(stat(podDir)).rejects.toThrow();
  });

  it("a preStop hook counts against the grace period: one that outlasts it is cut short and the process SIGKILLed at the deadline", async () => {
    const p = pod({
      terminationGracePeriodSeconds: 1,
      containers: [sh("main", "trap '' TERM; while true; do sleep 0.1; done", { lifecycle: { preStop: { exec: { command: ["sleep", "30"] } } } })],
    });
    const { worker, main } = await startWorker(p, { clock: systemClock });
    await eventually(() => expect(main().state).toHaveProperty("running"));
    const pid = main().pid!;
    const started = Date.now();
    await worker.stop();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(4_000);
    expect(alive(pid)).toBe(false);
    expect(main().state).toMatchObject({ terminated: { signal: "SIGKILL" } });
    expect(await processesOfAgent(agentId)).toEqual([]);
  });

  it("a failing postStart hook kills the container and counts as a failed run", async () => {
    const p = pod({
      restartPolicy: "Never",
      containers: [{ name: "main", command: ["sleep", "30"], lifecycle: { postStart: { exec: { command: ["sh", "-c", "echo nope; exit 1"] } } } }],
    });
    const { main, phase } = await startWorker(p);
    await eventually(() => expect(phase()).toBe("Failed"));
    expect(main().state).toMatchObject({ terminated: { reason: "PostStartHookError", message: expect.stringContaining("nope") } });
  });
});

describe("hostAliases", () => {
  it("writes the pod's hosts file (the node's, then the aliases), names it in CAPSTAN_HOSTS_FILE and, as root, binds it over /etc/hosts", async () => {
    const p = pod({
      hostAliases: [{ ip: "10.0.0.5", hostnames: ["db.internal", "cache.internal"] }],
      containers: [sh("main", 'echo "file=$CAPSTAN_HOSTS_FILE"; getent hosts cache.internal; sleep 30')],
    });
    const { podDir, main } = await startWorker(p, { clock: systemClock });
    const hostsFile = join(podDir, "etc-hosts");
    const logPath = join(podDir, "logs", "main.log");
    await eventually(async () => expect(await readFile(logPath, "utf8")).toContain("file="));
    const content = await readFile(hostsFile, "utf8");
    expect(content.startsWith(await readFile("/etc/hosts", "utf8"))).toBe(true);
    expect(content).toMatch(/# Entries added by HostAliases\.\n10\.0\.0\.5\tdb\.internal\tcache\.internal\n$/);
    expect(await readFile(logPath, "utf8")).toContain(`file=${hostsFile}\n`);
    if (process.getuid?.() === 0) {
      await eventually(async () => expect(await readFile(logPath, "utf8")).toMatch(/^10\.0\.0\.5\s+db\.internal\s+cache\.internal$/m));
    }
    // The node's own file is not touched.
    expect(await readFile("/etc/hosts", "utf8")).not.toContain("cache.internal");
    expect(main().state).toHaveProperty("running");
  });

  it("formats the file as the kubelet does (pure)", () => {
    const aliases = [{ ip: "10.0.0.5", hostnames: ["a", "b"] }, { ip: "fd00::1", hostnames: ["c"] }];
    expect(hostsFileContent("127.0.0.1\tlocalhost", aliases)).toBe("127.0.0.1\tlocalhost\n\n# Entries added by HostAliases.\n10.0.0.5\ta\tb\nfd00::1\tc\n");
    expect(hostsFileContent("", aliases.slice(1))).toBe("\n# Entries added by HostAliases.\nfd00::1\tc\n");
  });
});

describe("new ConfigMap and Secret data for the same pod", () => {
  const needsKey = {
    containers: [sh("main", 'echo "greeting=$GREETING"; sleep 30', { env: [{ name: "GREETING", valueFrom: { configMapKeyRef: { name: "app", key: "GREETING" } } }] })],
  };
  const needsVolume = {
    volumes: [{ name: "conf", configMap: { name: "app" } }],
    containers: [sh("main", "cat conf-dir/GREETING; sleep 30", { volumeMounts: [{ name: "conf", mountPath: "/unused-conf" }] })],
  };

  it("starts a container blocked on a missing key at once when the key arrives, without waiting out its back-off", async () => {
    const clock = new ManualClock();
    const blocked = pod(needsKey, { configMaps: { app: { OTHER: "x" } } });
    const { worker, podDir, main } = await startWorker(blocked, { clock });
    await eventually(() => expect(main().state).toEqual({ waiting: { reason: "CreateContainerConfigError", message: "couldn't find key GREETING in ConfigMap default/app" } }));
    await clock.advance(0);
    await eventually(() => expect(clock.pending).toBeGreaterThan(0));

    worker.updateConfig(agentPodSchema.parse({ ...blocked, configMaps: { app: { GREETING: "hello" } } }));
    await eventually(() => expect(main().state).toHaveProperty("running"));
    await eventually(async () => expect(await readFile(join(podDir, "logs", "main.log"), "utf8")).toBe("greeting=hello\n"));
  });

  it("prepares volumes blocked on a missing ConfigMap at once when it arrives", async () => {
    const clock = new ManualClock();
    const blocked = pod(needsVolume);
    const { worker, main } = await startWorker(blocked, { clock });
    await eventually(() => expect(main().state).toEqual({ waiting: { reason: "CreateContainerConfigError", message: 'configmap "app" not found' } }));
    // Past the immediate second try, into the 10 s back-off, which the manual clock never ends by itself.
    await pause(300);
    worker.updateConfig(agentPodSchema.parse({ ...blocked, configMaps: { app: { GREETING: "hello" } } }));
    await eventually(() => expect(main().state).toHaveProperty("running"));
  });

  it("leaves a running container and its crash-loop back-off alone", async () => {
    const clock = new ManualClock();
    const running = pod(needsKey, { configMaps: { app: { GREETING: "one" } } });
    const { worker, podDir, main } = await startWorker(running, { clock });
    await eventually(() => expect(main().state).toHaveProperty("running"));
    const pid = main().pid!;
    worker.updateConfig(agentPodSchema.parse({ ...running, configMaps: { app: { GREETING: "two" } } }));
    await pause(300);
    expect(main()).toMatchObject({ pid, restartCount: 0 });
    expect(await readFile(join(podDir, "logs", "main.log"), "utf8")).toBe("greeting=one\n");
  });
});

describe("activeDeadlineSeconds", () => {
  it("fails the pod with DeadlineExceeded once spent on the clock, stopping its containers with their grace period and restarting nothing", async () => {
    const clock = new ManualClock();
    const p = pod({
      activeDeadlineSeconds: 30,
      containers: [sh("main", "trap 'echo term > ../deadline-term; exit 0' TERM; while true; do sleep 0.1; done")],
    });
    const { worker, podDir, main, phase } = await startWorker(p, { clock });
    await eventually(() => expect(main().state).toHaveProperty("running"));
    const pid = main().pid!;
    await clock.advance(29_000);
    expect(phase()).toBe("Running");
    expect(alive(pid)).toBe(true);

    await clock.advance(1_000);
    await eventually(() => expect(alive(pid)).toBe(false));
    expect(await readFile(join(podDir, "..", "deadline-term"), "utf8")).toBe("term\n");
    await eventually(() =>
      expect(worker.status()).toMatchObject({
        phase: "Failed",
        ready: false,
        reason: "DeadlineExceeded",
        message: "Pod was active on the node longer than the specified deadline",
        containerStatuses: [{ restartCount: 0, state: { terminated: { exitCode: 0 } } }],
      }),
    );
    // restartPolicy Always, yet nothing comes back.
    await clock.advance(60_000);
    await pause(200);
    expect(main().restartCount).toBe(0);
    expect(await processesOfAgent(agentId)).toEqual([]);
  });

  it("counts from the pod's recorded start: a deadline spent while the agent was away fails the pod before anything runs", async () => {
    const clock = new ManualClock();
    const p = pod({ activeDeadlineSeconds: 10, containers: [sh("main", "touch ../ran-anyway; sleep 30")] });
    const startTime = new Date(clock.now().getTime() - 11_000).toISOString();
    const { worker, podDir } = await startWorker(p, { clock, record: { uid: p.uid, hostPorts: {}, containers: {}, startTime } });
    expect(worker.status()).toMatchObject({ phase: "Failed", reason: "DeadlineExceeded", startTime });
    await pause(300);
    await expect(stat(join(podDir, "..", "ran-anyway"))).rejects.toThrow();
  });

  it("leaves a pod without a deadline, or with time left, alone (pure)", () => {
    const now = new Date("2026-01-01T00:01:00Z");
    expect(activeDeadlineRemainingMs("2026-01-01T00:00:00Z", undefined, now)).toBeUndefined();
    expect(activeDeadlineRemainingMs(undefined, 30, now)).toBeUndefined();
    expect(activeDeadlineRemainingMs("2026-01-01T00:00:00Z", 90, now)).toBe(30_000);
    expect(activeDeadlineRemainingMs("2026-01-01T00:00:00Z", 60, now)).toBe(0);
    expect(activeDeadlineRemainingMs("2026-01-01T00:00:00Z", 30, now)).toBe(0);
  });
});

describe("adoption", () => {
  it("detach() leaves the process running and a new worker adopts it (same pid, no second process)", async () => {
    const clock = new ManualClock();
    const p = pod({ containers: [sh("main", "exec sleep 30")] });
    const first = await startWorker(p, { clock });
    await eventually(() => expect(first.main().state).toHaveProperty("running"));
    const pid = first.main().pid!;
    expect(first.worker.record().containers.main!.current?.pid).toBe(pid);

    first.worker.detach();
    const record = first.worker.record();
    await pause(200);
    expect(alive(pid)).toBe(true);

    const second = await startWorker(p, { clock, record });
    expect(second.main()).toMatchObject({ pid, restartCount: 0, started: true, ready: true });
    expect(second.main().state).toEqual({ running: { startedAt: record.containers.main!.current!.startedAt } });
    expect(await processesOfAgent(agentId)).toEqual([pid]);
    expect(second.phase()).toBe("Running");

    // The adopted process is supervised: its end is noticed and restarted like any exit.
    process.kill(pid, "SIGKILL");
    await eventually(() => {
      expect(second.main().restartCount).toBe(1);
      expect(second.main().state).toHaveProperty("running");
    });
    expect(second.main().pid).not.toBe(pid);
    expect(second.main().lastState).toMatchObject({ terminated: { reason: "Unknown", exitCode: null } });
  });

  it("a recorded container that ended while the agent was away is an Unknown exit under the restart policy", async () => {
    const p = pod({ restartPolicy: "Never", containers: [sh("main", "exec sleep 30")] });
    const first = await startWorker(p);
    await eventually(() => expect(first.main().state).toHaveProperty("running"));
    first.worker.detach();
    const record = first.worker.record();
    const pid = first.main().pid!;
    process.kill(-pid, "SIGKILL");
    await eventually(() => expect(alive(pid)).toBe(false));

    const second = await startWorker(p, { record });
    expect(second.main().state).toMatchObject({ terminated: { reason: "Unknown", exitCode: null } });
    expect(second.phase()).toBe("Failed");
    await pause(200);
    expect(await processesOfAgent(agentId)).toEqual([]);
  });
});

describe("start failures and environment", () => {
  it("a command that does not exist waits with RunContainerError and the worker carries on", async () => {
    const clock = new ManualClock();
    const { worker, main, phase } = await startWorker(pod({ containers: [{ name: "main", command: ["no-such-command-capstan"] }] }), { clock });
    await eventually(() =>
      expect(main().state).toMatchObject({ waiting: { reason: "RunContainerError", message: expect.stringContaining("executable file not found") } }),
    );
    expect(main().restartCount).toBe(0);
    expect(phase()).toBe("Pending");
    await clock.advance(60_000);
    expect(main().state).toMatchObject({ waiting: { reason: "RunContainerError" } });
    await worker.stop();
  });

  it("under restartPolicy Never a command that cannot run fails the pod", async () => {
    const { main, phase } = await startWorker(pod({ restartPolicy: "Never", containers: [{ name: "main", command: ["no-such-command-capstan"] }] }));
    await eventually(() => expect(phase()).toBe("Failed"));
    expect(main().state).toMatchObject({ terminated: { exitCode: 128, reason: "StartError" } });
  });

  it("a container without a command waits with CreateContainerError; an image with no docker with RuntimeUnavailable", async () => {
    const { worker } = await startWorker(pod({ containers: [{ name: "main", args: ["x"] }, { name: "boxed", image: "busybox" }] }));
    await eventually(() => {
      const [main, boxed] = worker.status().containerStatuses;
      expect(main!.state).toMatchObject({ waiting: { reason: "CreateContainerError" } });
      expect(boxed!.state).toMatchObject({ waiting: { reason: "RuntimeUnavailable" } });
      expect(boxed!.runtime).toBe("docker");
    });
    expect(worker.status().phase).toBe("Pending");
  });

  it("$(VAR) expansion and PORT reach the process, its output goes to the container log, and usage is sampled", async () => {
    const clock = new ManualClock();
    const p = pod(
      {
        containers: [
          sh("main", 'echo "$MSG $PORT $PORT_8080" > env.txt; echo to-the-log; exec sleep 30', {
            env: [
              { name: "GREETING", value: "hi" },
              { name: "MSG", value: "$(GREETING) there" },
            ],
            ports: [{ containerPort: 8080 }],
          }),
        ],
      },
      { commitSha: "abc123" },
    );
    const { worker, podDir, main } = await startWorker(p, { clock, usageIntervalMs: 1000 });
    await eventually(() => stat(join(podDir, "env.txt")));
    const port = main().ports["8080"]!;
    expect(await readFile(join(podDir, "env.txt"), "utf8")).toBe(`hi there ${port} ${port}\n`);
    expect(await readFile(join(podDir, "logs", "main.log"), "utf8")).toBe("to-the-log\n");
    expect(worker.record().hostPorts).toEqual({ "main/8080": port });
    expect(worker.status()).toMatchObject({ commitSha: "abc123", startTime: clock.now().toISOString() });

    await eventuallyAdvancing(clock, 1000, () => expect(main().usage).toMatchObject({ rssBytes: expect.any(Number) }));
    expect(main().usage!.rssBytes).toBeGreaterThan(0);
  });
});
