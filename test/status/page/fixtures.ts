import type { DesiredStore } from "../../../src/desired/index.ts";

/**
 * Stored objects as the controllers and node links leave them, for the
 * page's tests: a Deployment whose rollout failed, its ReplicaSet and a
 * crash-looping pod on a node, a healthy DaemonSet, a CronJob with a failed
 * last run. Each written through the store's own methods.
 */
export async function seedCluster(store: DesiredStore): Promise<void> {
  const deployment = await store.createObject({
    apiVersion: "apps/v1",
    kind: "Deployment",
    namespace: "default",
    name: "web",
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [
            {
              name: "app",
              command: ["node", "server.js"],
              env: [
                { name: "LITERAL_PASSWORD", value: "hunter2-literal" },
                { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
              ],
            },
          ],
        },
      },
    },
  });
  await store.updateStatuses([
    {
      key: { kind: "Deployment", namespace: "default", name: "web" },
      observedGeneration: 1,
      status: {
        readyReplicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        health: "Degraded",
        conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
      },
    },
  ]);
  const replicaSet = await store.createObject({ apiVersion: "apps/v1", kind: "ReplicaSet", namespace: "default", name: "web-abc", spec: { replicas: 2 }, ownerUid: deployment.uid });
  await store.createObject({
    apiVersion: "v1",
    kind: "Pod",
    namespace: "default",
    name: "web-abc-1",
    ownerUid: replicaSet.uid,
    spec: { nodeName: "node-a", containers: [{ name: "app", command: ["node"], resources: { requests: { cpu: "250m", memory: "128Mi" } } }] },
    status: {
      phase: "Running",
      ready: false,
      containerStatuses: [{ name: "app", ready: false, restartCount: 4, state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting app" } } }],
    },
  });
  await store.createObject({
    apiVersion: "v1",
    kind: "Node",
    namespace: "",
    name: "node-a",
    spec: { transport: "ssh", address: "10.0.0.5", port: 2222, user: "root", unschedulable: false },
    status: {
      conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: new Date().toISOString() }],
      capacity: { cpuMillis: 2000, memoryBytes: 4 * 1024 ** 3 },
      nodeInfo: { agentVersion: "capstan-agent 9.9.9", runtimes: ["process"] },
      hostKey: { fingerprint: "SHA256:abcdefFINGERPRINT", trustedOnFirstUse: true },
    },
  });
  await store.createObject({ apiVersion: "apps/v1", kind: "DaemonSet", namespace: "default", name: "agent-logs", spec: {} });
  await store.updateStatuses([
    {
      key: { kind: "DaemonSet", namespace: "default", name: "agent-logs" },
      observedGeneration: 1,
      status: { desiredNumberScheduled: 1, numberReady: 1, updatedNumberScheduled: 1, numberAvailable: 1, health: "Healthy", conditions: [{ type: "Progressing", status: "True", reason: "NewPodsAvailable" }] },
    },
  ]);
  await store.createObject({
    apiVersion: "batch/v1",
    kind: "CronJob",
    namespace: "default",
    name: "nightly",
    spec: { schedule: "0 3 * * *", suspend: false, jobTemplate: { spec: {} } },
    status: {
      lastScheduleTime: "2026-11-22T03:00:00.000Z",
      nextScheduleTime: "2026-11-24T03:00:00.000Z",
      lastRun: { job: "nightly-29001", scheduledTime: "2026-11-22T03:00:00.000Z", outcome: "Failed: BackoffLimitExceeded" },
      health: "Degraded",
    },
  });
}
