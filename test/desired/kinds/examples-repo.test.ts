import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { findKind } from "../../../src/desired/kinds/index.ts";

const examplesRepo = join(import.meta.dirname, "../../../examples-repo");

async function yamlFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await yamlFiles(path)));
    else if (/\.ya?ml$/.test(entry.name)) files.push(path);
  }
  return files.sort();
}

async function loadExamples() {
  const manifests: { file: string; kind: string; parsed: any }[] = [];
  for (const path of await yamlFiles(examplesRepo)) {
    for (const document of parseAllDocuments(await readFile(path, "utf8"))) {
      const raw = document.toJS() as { kind: string };
      const definition = findKind(raw.kind);
      const result = definition?.schema.safeParse(raw);
      const file = relative(examplesRepo, path);
      expect(result?.success, `${file}: ${JSON.stringify(result?.error?.issues ?? `unknown kind ${raw.kind}`)}`).toBe(true);
      manifests.push({ file, kind: raw.kind, parsed: result!.data });
    }
  }
  return manifests;
}

describe("examples-repo", () => {
  it("validates cleanly, one manifest per file", async () => {
    const manifests = await loadExamples();
    expect(manifests.map(({ file, kind }) => `${file} ${kind}`)).toEqual([
      "db/service.yaml Service",
      "db/statefulset.yaml StatefulSet",
      "jobs/cronjob.yaml CronJob",
      "logs/daemonset.yaml DaemonSet",
      "namespace.yaml Namespace",
      "node-local.yaml Node",
      "web/configmap.yaml ConfigMap",
      "web/deployment.yaml Deployment",
      "web/secret.yaml Secret",
      "web/service.yaml Service",
    ]);
  });

  it("puts every namespaced object in the shop namespace and runs the local host as a Node", async () => {
    const manifests = await loadExamples();
    for (const { kind, parsed } of manifests) {
      if (kind === "Namespace" || kind === "Node") expect(parsed.metadata.namespace).toBeUndefined();
      else expect(parsed.metadata.namespace, kind).toBe("shop");
    }
    const node = manifests.find(({ kind }) => kind === "Node")!.parsed;
    expect(node.metadata.name).toBe("local");
    expect(node.spec).toMatchObject({ transport: "local", address: "127.0.0.1" });
  });

  it("runs the web front end as two replicas of a host process behind NodePort 30080", async () => {
    const manifests = await loadExamples();
    const web = manifests.find(({ kind }) => kind === "Deployment")!.parsed;
    expect(web.spec.replicas).toBe(2);
    const container = web.spec.template.spec.containers[0];
    expect([container.command, container.args]).toEqual([["node"], ["app/web.js"]]);
    expect(container.readinessProbe.httpGet).toMatchObject({ path: "/healthz", port: "http" });
    const service = manifests.find(({ file }) => file === "web/service.yaml")!.parsed;
    expect(service.spec.ports[0]).toMatchObject({ nodePort: 30080, targetPort: "http" });
  });
});
