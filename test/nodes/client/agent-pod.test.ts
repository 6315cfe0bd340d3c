import { describe, expect, it } from "vitest";
import { podSpecSchema } from "../../../src/desired/index.ts";
import { toAgentPod } from "../../../src/nodes/client/agent-pod.ts";
import { agentPodSchema } from "../../../src/nodes/protocol.ts";
import { storedObject } from "../../helpers/stored-object.ts";

/** What the control plane sends an agent for one pod: its references resolved, and only those. */

const spec = podSpecSchema.parse({
  containers: [
    {
      name: "app",
      command: ["app"],
      env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } }],
      envFrom: [{ configMapRef: { name: "missing", optional: true } }],
    },
  ],
  volumes: [{ name: "assets", configMap: { name: "assets" } }],
});

const objects = {
  assets: storedObject({ kind: "ConfigMap", name: "assets", spec: { data: { "index.html": "<h1>hi</h1>" }, binaryData: { "logo.bin": "/w==" }, immutable: false } }),
  unrelated: storedObject({ kind: "ConfigMap", name: "unrelated", spec: { data: { other: "x" }, binaryData: {} } }),
  creds: storedObject({ kind: "Secret", name: "creds", spec: { type: "Opaque", data: { token: "czNjcmV0" }, immutable: false } }),
  otherSecret: storedObject({ kind: "Secret", name: "other", spec: { type: "Opaque", data: { key: "eA==" } } }),
};

const lookup = {
  configMap: (namespace: string, name: string) => [objects.assets, objects.unrelated].find((object) => object.namespace === namespace && object.name === name),
  secret: (namespace: string, name: string) => [objects.creds, objects.otherSecret].find((object) => object.namespace === namespace && object.name === name),
};

describe("toAgentPod", () => {
  it("carries the ConfigMaps and Secrets the pod names, binaryData apart and still base64, and nothing else of the namespace", () => {
    const pod = storedObject({ kind: "Pod", name: "web-1", spec });
    const sent = agentPodSchema.parse(toAgentPod(pod, lookup));
    expect(sent.configMaps).toEqual({ assets: { "index.html": "<h1>hi</h1>" } });
    expect(sent.configMapBinaryData).toEqual({ assets: { "logo.bin": "/w==" } });
    expect(sent.secrets).toEqual({ creds: { token: "czNjcmV0" } });
  });

  it("leaves a missing object out, so that the agent blocks the pod (or skips an optional reference)", () => {
    const pod = storedObject({ kind: "Pod", name: "web-1", namespace: "elsewhere", spec });
    const sent = agentPodSchema.parse(toAgentPod(pod, lookup));
    expect(sent).toMatchObject({ configMaps: {}, configMapBinaryData: {}, secrets: {} });
  });
});
