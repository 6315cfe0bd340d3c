import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifySignature } from "../../src/notifications/index.ts";
import { useCluster } from "../helpers/e2e-cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { Receiver, secretYaml } from "../notifications/fixtures.ts";

/**
 * Notifications through the whole control plane: a Notifier committed to Git,
 * a real node over SSH, a rollout that completes, a commit that is rejected
 * and a node that goes away each reach the receiver as one signed post.
 */

const receiver = new Receiver();
const hmacKey = "e2e-notifier-hmac-key-0123456789";
const cluster = useCluster({ nodes: 1, name: "notify", env: { CAPSTAN_RESYNC_INTERVAL: "2" } });

beforeAll(() => receiver.up());
afterAll(() => receiver.down());

const notifier = () => `apiVersion: capstan.dev/v1
kind: Notifier
metadata: { name: ops }
spec:
  url: ${receiver.url}
  events: [RolloutComplete, CommitRejected, NodeNotReady]
  secretRef: { name: hook-key, key: hmac }
`;

const deployment = `apiVersion: apps/v1
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
`;

const received = () => receiver.requests.map((request) => JSON.parse(request.body) as { type: string; object: { kind: string; name: string }; revision: string | null });

describe("notifications from a running control plane", () => {
  it("posts RolloutComplete with the commit, CommitRejected and NodeNotReady, each signed, each once", async () => {
    await cluster.commit({ "notifier.yaml": notifier(), "secret.yaml": secretYaml("hook-key", "hmac", hmacKey) }, "notifier");
    const sha = await cluster.commit({ "web.yaml": deployment }, "web");
    await eventually(() => expect(received()).toContainEqual(expect.objectContaining({ type: "RolloutComplete", object: expect.objectContaining({ kind: "Deployment", name: "web" }), revision: sha })), 60_000);

    const bad = await cluster.commit({ "broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: Bad_Name }\n" }, "broken");
    await eventually(() => expect(received()).toContainEqual(expect.objectContaining({ type: "CommitRejected", revision: bad })), 30_000);

    await cluster.servers[0]!.down();
    try {
      await eventually(() => expect(received()).toContainEqual(expect.objectContaining({ type: "NodeNotReady", object: expect.objectContaining({ kind: "Node", name: "node-0" }) })), 60_000);
    } finally {
      await cluster.servers[0]!.up();
    }

    for (const request of receiver.requests) {
      expect(verifySignature(Buffer.from(hmacKey), request.body, request.headers["x-capstan-signature"] as string)).toBe(true);
    }
    const keys = receiver.byKey();
    expect([...keys.values()].every((requests) => requests.length === 1)).toBe(true);
    // The outcome is written just after the receiver answered.
    await eventually(async () => {
      const deliveries = await cluster.pool.query("SELECT state FROM notification_deliveries");
      expect(deliveries.rows.map((row) => row.state)).toEqual(Array(receiver.requests.length).fill("delivered"));
    });
  }, 180_000);
});
