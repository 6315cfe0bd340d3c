import { describe, expect, it } from "vitest";
import { accept, expectIssue, podTemplate, variant, type InvalidCase } from "./expect.ts";

const job = {
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name: "reindex", namespace: "shop" },
  spec: {
    template: podTemplate({ job: "reindex" }, { restartPolicy: "OnFailure" }),
  },
};

describe("Job", () => {
  it("is accepted with the Kubernetes defaults applied", () => {
    const parsed = accept("Job", job);
    expect(parsed.spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      completionMode: "NonIndexed",
      backoffLimit: 6,
      suspend: false,
    });
    expect(parsed.spec.template.spec).toMatchObject({ restartPolicy: "OnFailure", terminationGracePeriodSeconds: 30 });
  });

  it("leaves completions unset for a work queue (parallelism without completions)", () => {
    const parsed = accept("Job", variant(job, (j) => (j.spec.parallelism = 3)));
    expect(parsed.spec.parallelism).toBe(3);
    expect(parsed.spec).not.toHaveProperty("completions");
  });

  it("accepts a selector that matches its template", () => {
    const parsed = accept("Job", variant(job, (j) => (j.spec.selector = { matchLabels: { job: "reindex" } })));
    expect(parsed.spec.selector).toEqual({ matchLabels: { job: "reindex" } });
  });

  const invalid: InvalidCase[] = [
    {
      name: "pods left at the default restartPolicy Always",
      manifest: variant(job, (j) => delete j.spec.template.spec.restartPolicy),
      path: ["spec", "template", "spec", "restartPolicy"],
      message: /unsupported value "Always" \(the default\): a Job's pods must use "OnFailure" or "Never"/,
    },
    {
      name: "an Indexed work queue without completions",
      manifest: variant(job, (j) => Object.assign(j.spec, { completionMode: "Indexed", parallelism: 2 })),
      path: ["spec", "completions"],
      message: /must be specified when completionMode is Indexed/,
    },
    {
      name: "a selector that does not match the template",
      manifest: variant(job, (j) => (j.spec.selector = { matchLabels: { job: "other" } })),
      path: ["spec", "selector"],
      message: /selector does not match template labels/,
    },
    {
      name: "a memory limit that is not a quantity",
      manifest: variant(job, (j) => (j.spec.template.spec.containers[0].resources = { limits: { memory: "lots" } })),
      path: ["spec", "template", "spec", "containers", 0, "resources", "limits", "memory"],
      message: /"lots" is not a quantity/,
    },
    {
      name: "a negative backoffLimit",
      manifest: variant(job, (j) => (j.spec.backoffLimit = -1)),
      path: ["spec", "backoffLimit"],
      message: /greater than or equal to 0/,
    },
    {
      name: "an activeDeadlineSeconds of 0",
      manifest: variant(job, (j) => (j.spec.activeDeadlineSeconds = 0)),
      path: ["spec", "activeDeadlineSeconds"],
      message: /greater than or equal to 1/,
    },
    {
      name: "an unknown field in the pod spec",
      manifest: variant(job, (j) => (j.spec.template.spec.priorityClassName = "high")),
      path: ["spec", "template", "spec"],
      message: /Unrecognized key: "priorityClassName"/,
    },
    {
      name: "an apps/v1 apiVersion",
      manifest: variant(job, (j) => (j.apiVersion = "apps/v1")),
      path: ["apiVersion"],
      message: /does not serve kind Job/,
    },
    {
      name: "a name with a trailing dot",
      manifest: variant(job, (j) => (j.metadata.name = "reindex.")),
      path: ["metadata", "name"],
      message: /RFC 1123 subdomain/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("Job", manifest, path, message);
  });
});
