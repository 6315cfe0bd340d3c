import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { parseExposition, valueOf, type Exposition } from "../helpers/prometheus-text.ts";

/**
 * /metrics of a whole control plane over HTTP, with a real SSH node (sshd on
 * 127.0.0.40, the real capstan-agent): a pushed Deployment shows in the sync,
 * reconcile, pod and node figures; a killed SSH connection is counted as a
 * redial; a request id goes through. Checks the wiring in controlplane.ts.
 */

const cluster = useCluster({ nodes: 1, firstAddress: "127.0.0.40", name: "metrics" });
const secretValue = "planted-secret-value-7f3a";

const manifests = {
  "web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          command: ["${process.execPath}", "-e", "setInterval(() => {}, 1000)"]
          env: [{ name: TOKEN, valueFrom: { secretKeyRef: { name: web, key: token } } }]
`,
  "secret.yaml": `apiVersion: v1
kind: Secret
metadata: { name: web }
stringData: { token: ${secretValue} }
`,
};

async function scrape(): Promise<{ exposition: Exposition; text: string }> {
  const response = await fetch(`${cluster.controlPlane.url}/metrics`, { headers: { "X-Request-Id": "scrape-1" } });
  expect(response.status).toBe(200);
  expect(response.headers.get("x-request-id")).toBe("scrape-1");
  const text = await response.text();
  return { exposition: parseExposition(text), text };
}

describe("/metrics of a running control plane", () => {
  it("reports the sync, the reconciles, the pods and the node of a pushed Deployment, and never a Secret's value", async () => {
    await cluster.waitForNodesReady();
    await cluster.commit(manifests, "web with a secret");
    await eventually(async () => {
      const { exposition } = await scrape();
      expect(valueOf(exposition, "capstan_pods", { phase: "Running" })).toBe(1);
    }, 60_000);
    const { exposition, text } = await scrape();
    expect(valueOf(exposition, "capstan_sync_duration_seconds_count", { outcome: "applied" })).toBeGreaterThanOrEqual(2);
    expect(valueOf(exposition, "capstan_reconcile_duration_seconds_count", { kind: "Deployment", controller: "deployment-controller" })).toBeGreaterThanOrEqual(1);
    expect(valueOf(exposition, "capstan_reconcile_duration_seconds_count", { kind: "Pod", controller: "scheduler" })).toBeGreaterThanOrEqual(1);
    expect(valueOf(exposition, "capstan_node_ready", { node: "node-0" })).toBe(1);
    expect(valueOf(exposition, "capstan_node_link_up", { node: "node-0" })).toBe(1);
    expect(valueOf(exposition, "capstan_git_source_up")).toBe(1);
    expect(valueOf(exposition, "capstan_revision_lag_seconds")).toBe(0);
    expect(valueOf(exposition, "capstan_leader")).toBe(1);
    expect(valueOf(exposition, "capstan_reconcile_queue_depth", { kind: "Deployment", controller: "deployment-controller" })).toBeGreaterThanOrEqual(0);
    expect(exposition.types.get("process_resident_memory_bytes")).toBe("gauge");
    expect(text).not.toContain(secretValue);
  }, 90_000);

  it("counts a redial of the node's SSH link after its connection is killed", async () => {
    const before = valueOf((await scrape()).exposition, "capstan_ssh_reconnects_total", { node: "node-0" }) ?? 0;
    await cluster.servers[0]!.killConnections();
    await eventually(async () => {
      const { exposition } = await scrape();
      expect(valueOf(exposition, "capstan_ssh_reconnects_total", { node: "node-0" })).toBeGreaterThan(before);
      expect(valueOf(exposition, "capstan_node_link_up", { node: "node-0" })).toBe(1);
    }, 30_000);
  }, 60_000);
});
