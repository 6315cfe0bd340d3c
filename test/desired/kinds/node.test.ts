import { describe, expect, it } from "vitest";
import { accept, expectIssue, kindOf, variant, type InvalidCase } from "./expect.ts";

// A real ed25519 public key line (its blob begins with the length-prefixed "ssh-ed25519").
const hostKey = `ssh-ed25519 ${Buffer.concat([
  Buffer.from([0, 0, 0, 11]),
  Buffer.from("ssh-ed25519"),
  Buffer.from([0, 0, 0, 32]),
  Buffer.alloc(32, 7),
]).toString("base64")} root@web-1`;

const node = {
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "web-1.example.net", labels: { zone: "eu-1", disk: "ssd" } },
  spec: {
    address: "203.0.113.10",
    hostKey,
    taints: [{ key: "dedicated", value: "web", effect: "NoSchedule" }],
    capacity: { cpu: "3500m", memory: "7Gi" },
  },
};

describe("Node", () => {
  it("is accepted with SSH defaults", () => {
    const parsed = accept("Node", node);
    expect(parsed.spec).toEqual({
      ...node.spec,
      transport: "ssh",
      port: 22,
      user: "root",
      unschedulable: false,
    });
    expect(kindOf("Node").namespaced).toBe(false);
    // Labels live in metadata, where selectors and affinity look for them.
    expect(parsed.metadata.labels).toEqual({ zone: "eu-1", disk: "ssd" });
  });

  it("accepts the local host through the local transport, addressed by hostname", () => {
    const parsed = accept("Node", {
      apiVersion: "capstan.dev/v1",
      kind: "Node",
      metadata: { name: "local" },
      spec: { transport: "local", address: "localhost" },
    });
    expect(parsed.spec.transport).toBe("local");
  });

  const invalid: InvalidCase[] = [
    {
      name: "an unknown transport",
      manifest: variant(node, (n) => (n.spec.transport = "telnet")),
      path: ["spec", "transport"],
      message: /expected one of "ssh"\|"local"/,
    },
    {
      name: "an address that is neither IP nor hostname",
      manifest: variant(node, (n) => (n.spec.address = "web 1")),
      path: ["spec", "address"],
      message: /IP address or a DNS hostname/,
    },
    {
      name: "a host key that is not an OpenSSH public key line",
      manifest: variant(node, (n) => (n.spec.hostKey = "AAAAC3NzaC1lZDI1NTE5")),
      path: ["spec", "hostKey"],
      message: /OpenSSH public key line/,
    },
    {
      name: "a host key whose type and blob disagree",
      manifest: variant(node, (n) => (n.spec.hostKey = hostKey.replace("ssh-ed25519 ", "ssh-rsa "))),
      path: ["spec", "hostKey"],
      message: /does not hold a ssh-rsa key/,
    },
    {
      name: "a capacity that is not a quantity",
      manifest: variant(node, (n) => (n.spec.capacity.memory = "7 gigs")),
      path: ["spec", "capacity", "memory"],
      message: /"7 gigs" is not a quantity/,
    },
    {
      name: "a negative capacity",
      manifest: variant(node, (n) => (n.spec.capacity.cpu = "-1")),
      path: ["spec", "capacity", "cpu"],
      message: /greater than or equal to 0/,
    },
    {
      name: "a taint with an unknown effect",
      manifest: variant(node, (n) => (n.spec.taints[0].effect = "NoRun")),
      path: ["spec", "taints", 0, "effect"],
      message: /expected one of "NoSchedule"\|"PreferNoSchedule"\|"NoExecute"/,
    },
    {
      name: "the same taint twice",
      manifest: variant(node, (n) => n.spec.taints.push({ key: "dedicated", value: "db", effect: "NoSchedule" })),
      path: ["spec", "taints", 1],
      message: /duplicate taint dedicated:NoSchedule/,
    },
    {
      name: "an SSH port out of range",
      manifest: variant(node, (n) => (n.spec.port = 0)),
      path: ["spec", "port"],
      message: /between 1 and 65535/,
    },
    {
      name: "a user name with a space",
      manifest: variant(node, (n) => (n.spec.user = "deploy user")),
      path: ["spec", "user"],
      message: /POSIX user name/,
    },
    {
      name: "labels given in spec instead of metadata",
      manifest: variant(node, (n) => (n.spec.labels = { zone: "eu-1" })),
      path: ["spec"],
      message: /Unrecognized key: "labels"/,
    },
    {
      name: "a namespace on a cluster-scoped kind",
      manifest: variant(node, (n) => (n.metadata.namespace = "shop")),
      path: ["metadata", "namespace"],
      message: /Node is cluster-scoped/,
    },
    {
      name: "a batch/v1 apiVersion",
      manifest: variant(node, (n) => (n.apiVersion = "batch/v1")),
      path: ["apiVersion"],
      message: /does not serve kind Node/,
    },
    {
      name: "an uppercase name",
      manifest: variant(node, (n) => (n.metadata.name = "Web-1")),
      path: ["metadata", "name"],
      message: /RFC 1123 subdomain/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Node", manifest, path, message);
  });
});
