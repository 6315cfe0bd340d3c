import { describe, expect, it } from "vitest";
import { accept, expectIssue, podTemplate, variant, type InvalidCase } from "./expect.ts";

const cronJob = {
  apiVersion: "batch/v1",
  kind: "CronJob",
  metadata: { name: "report", namespace: "shop" },
  spec: {
    schedule: "*/5 * * * *",
    timeZone: "Europe/Berlin",
    jobTemplate: {
      spec: { template: podTemplate({ job: "report" }, { restartPolicy: "OnFailure" }) },
    },
  },
};

describe("CronJob", () => {
  it("is accepted with the Kubernetes defaults applied, down to the job's pods", () => {
    const parsed = accept("CronJob", cronJob);
    expect(parsed.spec).toMatchObject({
      concurrencyPolicy: "Allow",
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
    });
    expect(parsed.spec.jobTemplate.metadata).toEqual({ labels: {}, annotations: {} });
    expect(parsed.spec.jobTemplate.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6 });
    expect(parsed.spec.jobTemplate.spec.template.spec.terminationGracePeriodSeconds).toBe(30);
  });

  it.each(["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually", "0 9-17/2 * jan,jul mon-fri"])(
    "accepts the schedule %s",
    (schedule) => {
      expect(accept("CronJob", variant(cronJob, (c) => (c.spec.schedule = schedule))).spec.schedule).toBe(schedule);
    },
  );

  const invalid: InvalidCase[] = [
    {
      name: "a schedule with a seconds field",
      manifest: variant(cronJob, (c) => (c.spec.schedule = "0 */5 * * * *")),
      path: ["spec", "schedule"],
      message: /must have 5 fields/,
    },
    {
      name: "a minute out of range",
      manifest: variant(cronJob, (c) => (c.spec.schedule = "60 * * * *")),
      path: ["spec", "schedule"],
      message: /minute value "60" is out of range 0-59/,
    },
    {
      name: "a schedule that never fires",
      manifest: variant(cronJob, (c) => (c.spec.schedule = "0 0 30 2 *")),
      path: ["spec", "schedule"],
      message: /never fires/,
    },
    {
      name: "a time zone in the schedule",
      manifest: variant(cronJob, (c) => (c.spec.schedule = "CRON_TZ=UTC 0 * * * *")),
      path: ["spec", "schedule"],
      message: /use spec.timeZone/,
    },
    {
      name: "an unknown time zone",
      manifest: variant(cronJob, (c) => (c.spec.timeZone = "Mars/Olympus_Mons")),
      path: ["spec", "timeZone"],
      message: /unknown time zone "Mars\/Olympus_Mons"/,
    },
    {
      name: "job pods with restartPolicy Always",
      manifest: variant(cronJob, (c) => (c.spec.jobTemplate.spec.template.spec.restartPolicy = "Always")),
      path: ["spec", "jobTemplate", "spec", "template", "spec", "restartPolicy"],
      message: /a Job's pods must use "OnFailure" or "Never"/,
    },
    {
      name: "a concurrencyPolicy Kubernetes does not know",
      manifest: variant(cronJob, (c) => (c.spec.concurrencyPolicy = "Queue")),
      path: ["spec", "concurrencyPolicy"],
      message: /expected one of "Allow"\|"Forbid"\|"Replace"/,
    },
    {
      name: "a CPU request that is not a quantity",
      manifest: variant(cronJob, (c) => (c.spec.jobTemplate.spec.template.spec.containers[0].resources = { requests: { cpu: "1 core" } })),
      path: ["spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "resources", "requests", "cpu"],
      message: /"1 core" is not a quantity/,
    },
    {
      name: "a name over 52 characters (its Jobs' names must fit in 63)",
      manifest: variant(cronJob, (c) => (c.metadata.name = "r".repeat(53))),
      path: ["metadata", "name"],
      message: /no more than 52 characters/,
    },
    {
      name: "an unknown field in the job template",
      manifest: variant(cronJob, (c) => (c.spec.jobTemplate.spec.backoffLimitPerIndex = 1)),
      path: ["spec", "jobTemplate", "spec"],
      message: /Unrecognized key: "backoffLimitPerIndex"/,
    },
    {
      name: "an apps/v1 apiVersion",
      manifest: variant(cronJob, (c) => (c.apiVersion = "apps/v1")),
      path: ["apiVersion"],
      message: /does not serve kind CronJob/,
    },
  ];

  it.each(invalid)("rejects $name", ({ manifest, path, message }) => {
    expectIssue("CronJob", manifest, path, message);
  });
});
