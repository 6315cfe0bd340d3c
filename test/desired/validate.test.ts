import { describe, expect, it } from "vitest";
import type { ManifestProblem } from "../../src/errors.ts";
import { parseSourceFile } from "../../src/desired/parse.ts";
import type { DesiredObject } from "../../src/desired/types.ts";
import { isApplicable, validateDocument, validateFile, validateFiles, validateObjectSet } from "../../src/desired/validate.ts";

/** A file whose line N is `lines[N - 1]`, so that expected positions can be read off the test. */
function lines(...text: string[]): string {
  return `${text.join("\n")}\n`;
}

// A valid Deployment, 17 lines long; `containerLines` continue its only container (10 spaces deep).
function webDeployment(...containerLines: string[]): string[] {
  return [
    "apiVersion: apps/v1",
    "kind: Deployment",
    "metadata:",
    "  name: web",
    "spec:",
    "  selector:",
    "    matchLabels: {app: web}",
    "  template:",
    "    metadata:",
    "      labels: {app: web}",
    "    spec:",
    "      containers:",
    "        - name: web",
    "          command: [node, web.js]",
    "          ports:",
    "            - name: http",
    "              containerPort: 8080",
    ...containerLines,
  ];
}

function problemsOf(path: string, content: string): ManifestProblem[] {
  return validateFile({ path, content }).problems;
}

function error(file: string, line: number, column: number, path: string, message: string): ManifestProblem {
  return { file, line, column, path, message, severity: "error" };
}

describe("validating one document", () => {
  it("builds the desired object with the kind's defaults, the default namespace and where it came from", () => {
    const { documents } = parseSourceFile({ path: "apps/web.yaml", content: lines("# the shop's front end", ...webDeployment()) });
    const { object, problems } = validateDocument(documents[0]!);
    expect(problems).toEqual([]);
    expect(object).toMatchObject({
      apiVersion: "apps/v1",
      kind: "Deployment",
      namespace: "default",
      name: "web",
      labels: {},
      annotations: {},
      source: { file: "apps/web.yaml", line: 2, column: 1 },
    });
    expect(object?.spec).toMatchObject({ replicas: 1, revisionHistoryLimit: 10, progressDeadlineSeconds: 600 });
    expect(object?.spec).toHaveProperty("template.spec.restartPolicy", "Always");
  });

  it("gives cluster-scoped kinds the empty namespace", () => {
    const { objects, problems } = validateFile({
      path: "ns.yaml",
      content: lines("apiVersion: v1", "kind: Namespace", "metadata:", "  name: shop", "  labels: {team: storefront}"),
    });
    expect(problems).toEqual([]);
    expect(objects).toEqual([
      {
        apiVersion: "v1",
        kind: "Namespace",
        namespace: "",
        name: "shop",
        labels: { team: "storefront" },
        annotations: {},
        spec: {},
        source: { file: "ns.yaml", line: 1, column: 1 },
      },
    ]);
  });

  it("stores a ConfigMap's data as its spec", () => {
    const { objects } = validateFile({
      path: "cm.yaml",
      content: lines("apiVersion: v1", "kind: ConfigMap", "metadata: {name: web-config, namespace: shop}", "data: {GREETING: hi}"),
    });
    expect(objects[0]).toMatchObject({ namespace: "shop", spec: { data: { GREETING: "hi" }, binaryData: {} } });
  });

  it("names an unknown field deep in the manifest at its own key", () => {
    const problems = problemsOf("web.yaml", lines(...webDeployment("              protocl: TCP")));
    expect(problems).toEqual([
      error("web.yaml", 18, 15, "spec.template.spec.containers[0].ports[0].protocl", 'unknown field "protocl"'),
    ]);
  });

  it("places a missing required field at the key of the mapping that lacks it", () => {
    const content = lines(...webDeployment().filter((line) => !line.includes("selector") && !line.includes("matchLabels")));
    expect(problemsOf("web.yaml", content)).toEqual([error("web.yaml", 5, 1, "spec.selector", "Required value")]);
  });

  it("places a missing field of a list item at the item", () => {
    const content = lines(...webDeployment().map((line) => line.replace("- name: web", "- workingDir: .")));
    expect(problemsOf("web.yaml", content)).toEqual([
      error("web.yaml", 13, 11, "spec.template.spec.containers[0].name", "Required value"),
    ]);
  });

  it("reports a wrong type in the second document of a file at that document's line", () => {
    const content = lines(
      "apiVersion: v1",
      "kind: Namespace",
      "metadata: {name: shop}",
      "---",
      ...webDeployment().map((line) => line.replace("  selector:", "  replicas: three\n  selector:")),
    );
    expect(problemsOf("all.yaml", content)).toEqual([
      error("all.yaml", 10, 3, "spec.replicas", "expected number, received string"),
    ]);
  });

  it("names the rule a value breaks when it has the right type but a bad value", () => {
    const content = lines(...webDeployment("          livenessProbe:", "            tcpSocket: {port: 70000}"));
    expect(problemsOf("web.yaml", content)).toEqual([
      error("web.yaml", 19, 25, "spec.template.spec.containers[0].livenessProbe.tcpSocket.port", "a port must be between 1 and 65535, inclusive"),
    ]);
  });

  it("names the types a number-or-name field accepts", () => {
    const content = lines(...webDeployment("          livenessProbe:", "            tcpSocket: {port: true}"));
    expect(problemsOf("web.yaml", content)).toEqual([
      error("web.yaml", 19, 25, "spec.template.spec.containers[0].livenessProbe.tcpSocket.port", "expected number or string, received boolean"),
    ]);
  });

  it("refuses an unknown kind at `kind`, naming the known kinds", () => {
    const [problem] = problemsOf("x.yaml", lines("apiVersion: v1", "kind: Ingress", "metadata: {name: x}"));
    expect(problem).toMatchObject({ file: "x.yaml", line: 2, column: 1, path: "kind", severity: "error" });
    expect(problem?.message).toBe(
      'unknown kind "Ingress": known kinds are Namespace, Node, ConfigMap, Secret, Deployment, ReplicaSet, Pod, DaemonSet, StatefulSet, Job, CronJob, Service, HorizontalPodAutoscaler, PersistentVolumeClaim, Notifier',
    );
  });

  it("points out a kind written in the wrong case", () => {
    const [problem] = problemsOf("x.yaml", lines("apiVersion: apps/v1", "kind: deployment", "metadata: {name: x}"));
    expect(problem?.message).toMatch(/^unknown kind "deployment" \(kinds are case-sensitive: did you mean Deployment\?\)/);
  });

  it("requires a kind", () => {
    const [problem] = problemsOf("x.yaml", lines("apiVersion: v1", "metadata: {name: x}"));
    expect(problem).toMatchObject({ line: 1, column: 1, path: "kind" });
    expect(problem?.message).toMatch(/^Required value: the kind of object, one of Namespace, /);
  });

  it("refuses an apiVersion that does not serve the kind at `apiVersion`, listing the accepted ones, and still checks the rest", () => {
    const content = lines(...webDeployment("          colour: blue").map((line) => line.replace("apps/v1", "extensions/v1beta1")));
    expect(problemsOf("web.yaml", content)).toEqual([
      error("web.yaml", 1, 1, "apiVersion", 'apiVersion "extensions/v1beta1" does not serve kind Deployment: use one of apps/v1, capstan.dev/v1'),
      error("web.yaml", 18, 11, "spec.template.spec.containers[0].colour", 'unknown field "colour"'),
    ]);
  });

  it("refuses a namespace on a cluster-scoped kind", () => {
    const problems = problemsOf("ns.yaml", lines("apiVersion: v1", "kind: Namespace", "metadata:", "  name: shop", "  namespace: other"));
    expect(problems).toEqual([
      error("ns.yaml", 5, 3, "metadata.namespace", "Namespace is cluster-scoped: metadata.namespace must not be set"),
    ]);
  });

  it("gives the same result for the same file every time, so results can be cached by blob id", () => {
    const file = { path: "web.yaml", content: lines(...webDeployment("          colour: blue")) };
    expect(validateFile(file)).toEqual(validateFile(file));
  });
});

describe("validating a commit's files together", () => {
  const namespace = (name: string) => lines("apiVersion: v1", "kind: Namespace", `metadata: {name: ${name}}`);
  const configMap = (name: string, namespaceName: string, data = "{LOG_DIR: /tmp}") =>
    lines("apiVersion: v1", "kind: ConfigMap", "metadata:", `  name: ${name}`, `  namespace: ${namespaceName}`, `data: ${data}`);

  it("flags the second of two manifests for the same object, naming the first", () => {
    const { problems } = validateFiles([
      { path: "a/web.yaml", content: lines(...webDeployment()) },
      { path: "b/web-copy.yaml", content: lines("# copied", ...webDeployment()) },
    ]);
    expect(problems).toEqual([
      error("b/web-copy.yaml", 5, 3, "metadata.name", 'Deployment "web" in namespace "default" is already defined at a/web.yaml:1:1'),
    ]);
    expect(isApplicable(problems)).toBe(false);
  });

  it("decides which duplicate is second by file path, whatever order the files come in", () => {
    const { problems } = validateFiles([
      { path: "b.yaml", content: namespace("shop") },
      { path: "a.yaml", content: namespace("shop") },
    ]);
    expect(problems).toEqual([error("b.yaml", 3, 12, "metadata.name", 'Namespace "shop" is already defined at a.yaml:1:1')]);
  });

  it("allows the same name for different kinds and in different namespaces", () => {
    const { problems } = validateFiles([
      { path: "ns.yaml", content: namespace("shop") },
      { path: "cm.yaml", content: configMap("web", "default") + "---\n" + configMap("web", "shop") },
      { path: "web.yaml", content: lines(...webDeployment()) },
    ]);
    expect(problems).toEqual([]);
  });

  it("refuses an object in a namespace no Namespace manifest of the commit declares", () => {
    const { problems } = validateFiles([{ path: "cm.yaml", content: configMap("web-config", "shop") }]);
    expect(problems).toEqual([
      error("cm.yaml", 5, 3, "metadata.namespace", 'namespace "shop" not found: no Namespace manifest in this commit declares it'),
    ]);
    expect(validateFiles([{ path: "cm.yaml", content: configMap("web-config", "shop") }, { path: "ns.yaml", content: namespace("shop") }]).problems).toEqual([]);
  });

  it("warns, without blocking the commit, when a pod template reads a ConfigMap the commit does not hold", () => {
    const { objects, problems } = validateFiles([
      { path: "web.yaml", content: lines(...webDeployment("          envFrom:", "            - configMapRef: {name: web-config}")) },
    ]);
    expect(objects).toHaveLength(1);
    expect(problems).toEqual([
      {
        file: "web.yaml",
        line: 19,
        column: 30,
        path: "spec.template.spec.containers[0].envFrom[0].configMapRef.name",
        message:
          'ConfigMap "web-config" not found in namespace "default" in this commit: the pods will not start until it exists (set optional: true if they should start without it)',
        severity: "warning",
      },
    ]);
    expect(isApplicable(problems)).toBe(true);
  });

  it("says nothing about a reference marked optional", () => {
    const content = lines(...webDeployment("          envFrom:", "            - configMapRef: {name: web-config, optional: true}"));
    expect(validateFiles([{ path: "web.yaml", content }]).problems).toEqual([]);
  });

  it("looks for the referenced object in the workload's own namespace", () => {
    const content = lines(...webDeployment("          envFrom:", "            - configMapRef: {name: web-config}"));
    const files = [
      { path: "web.yaml", content },
      { path: "ns.yaml", content: namespace("shop") },
      { path: "cm.yaml", content: configMap("web-config", "shop") },
    ];
    expect(validateFiles(files).problems.map((problem) => problem.message)).toEqual([
      expect.stringMatching(/^ConfigMap "web-config" not found in namespace "default"/),
    ]);
    expect(validateFiles([...files, { path: "cm-default.yaml", content: configMap("web-config", "default") }]).problems).toEqual([]);
  });

  it("warns about a key the referenced ConfigMap or Secret lacks", () => {
    const content = lines(
      ...webDeployment(
        "          env:",
        "            - name: LOG_DIR",
        "              valueFrom: {configMapKeyRef: {name: web-config, key: LOG_DIR}}",
        "            - name: TOKEN",
        "              valueFrom:",
        "                secretKeyRef: {name: web-secrets, key: api-token}",
      ),
    );
    const secret = lines("apiVersion: v1", "kind: Secret", "metadata: {name: web-secrets}", "stringData: {password: hunter2}");
    const { problems } = validateFiles([
      { path: "web.yaml", content },
      { path: "cm.yaml", content: configMap("web-config", "default") },
      { path: "secret.yaml", content: secret },
    ]);
    expect(problems).toEqual([
      {
        file: "web.yaml",
        line: 23,
        column: 51,
        path: "spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef.key",
        message:
          'Secret "web-secrets" has no key "api-token": the pods will not start until it does (set optional: true if they should start without it)',
        severity: "warning",
      },
    ]);
  });

  it("finds references in volumes and projected volumes of every workload kind", () => {
    const cronJob = lines(
      "apiVersion: batch/v1",
      "kind: CronJob",
      "metadata: {name: report}",
      "spec:",
      '  schedule: "0 * * * *"',
      "  jobTemplate:",
      "    spec:",
      "      template:",
      "        spec:",
      "          restartPolicy: OnFailure",
      "          containers: [{name: report, command: [node, report.js]}]",
      "          volumes:",
      "            - name: config",
      "              configMap: {name: report-config}",
      "            - name: all",
      "              projected:",
      "                sources:",
      "                  - secret: {name: report-secrets}",
      "                  - configMap: {name: maybe, optional: true}",
    );
    const { problems } = validateFiles([{ path: "cron.yaml", content: cronJob }]);
    expect(problems.map((problem) => [problem.severity, `${problem.line}:${problem.column}`, problem.path])).toEqual([
      ["warning", "14:27", "spec.jobTemplate.spec.template.spec.volumes[0].configMap.name"],
      ["warning", "18:30", "spec.jobTemplate.spec.template.spec.volumes[1].projected.sources[0].secret.name"],
    ]);
  });

  it("checks objects built elsewhere (a cache) at their document's start, one rule after another", () => {
    const object = (file: string): DesiredObject => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace: "tools",
      name: "x",
      labels: {},
      annotations: {},
      spec: { data: {}, binaryData: {} },
      source: { file, line: 4, column: 1 },
    });
    expect(validateObjectSet([object("two.yaml"), object("one.yaml")])).toEqual([
      error("two.yaml", 4, 1, "metadata.name", 'ConfigMap "x" in namespace "tools" is already defined at one.yaml:4:1'),
      error("one.yaml", 4, 1, "metadata.namespace", 'namespace "tools" not found: no Namespace manifest in this commit declares it'),
      error("two.yaml", 4, 1, "metadata.namespace", 'namespace "tools" not found: no Namespace manifest in this commit declares it'),
    ]);
  });

  it("keeps every problem of every file, per-file first", () => {
    const { objects, problems } = validateFiles([
      { path: "bad.yaml", content: "kind: [\n" },
      { path: "web.yaml", content: lines(...webDeployment()) },
      { path: "web2.yaml", content: lines(...webDeployment()) },
    ]);
    expect(objects.map((object) => object.source.file)).toEqual(["web.yaml", "web2.yaml"]);
    expect(problems.map((problem) => problem.file)).toEqual(["bad.yaml", "web2.yaml"]);
  });
});
