import type { Command } from "commander";
import { jobListSchema, type CronJobSummary, type JobSummary } from "../status/index.ts";
import { getJson } from "./api-client.ts";
import { serverOption } from "./program.ts";
import { formatTable } from "./table.ts";

const time = (iso: string | null) => (iso ? iso.replace(/\.\d+Z$/, "Z") : "-");

/** How long a Job ran (or has been running when `now` is given and it has not finished). */
function duration(job: JobSummary, now: Date): string {
  if (!job.startTime) return "-";
  const end = job.completionTime ? Date.parse(job.completionTime) : now.getTime();
  const seconds = Math.max(0, Math.round((end - Date.parse(job.startTime)) / 1000));
  return seconds < 120 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}

export function cronJobTable(cronJobs: CronJobSummary[]): string {
  return formatTable(
    ["CRONJOB", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST RUN", "OUTCOME", "NEXT RUN", "HEALTH"],
    cronJobs.map((cronJob) => [
      `${cronJob.namespace}/${cronJob.name}`,
      `${cronJob.schedule}${cronJob.timeZone ? ` (${cronJob.timeZone})` : ""}`,
      cronJob.suspend ? "yes" : "no",
      String(cronJob.active),
      cronJob.lastRun ? `${time(cronJob.lastRun.scheduledTime)} ${cronJob.lastRun.job}` : "-",
      cronJob.lastRun?.outcome ?? "-",
      time(cronJob.nextScheduleTime),
      cronJob.health,
    ]),
  );
}

export function jobTable(jobs: JobSummary[], now: Date): string {
  return formatTable(
    ["JOB", "CRONJOB", "COMPLETIONS", "ACTIVE", "FAILED", "OUTCOME", "STARTED", "DURATION"],
    jobs.map((job) => [
      `${job.namespace}/${job.name}`,
      job.cronJob ?? "-",
      job.completions,
      String(job.active),
      String(job.failed),
      job.outcome,
      time(job.startTime),
      duration(job, now),
    ]),
  );
}

export function registerJobs(program: Command): void {
  serverOption(
    program
      .command("jobs")
      .description("CronJobs (last run, its outcome, next run) and Jobs (completions, outcome, duration)")
      .option("-n, --namespace <ns>", "only this namespace")
      .option("--json", "print the API's JSON"),
  ).action(async (flags: { server: string; namespace?: string; json?: boolean }) => {
    const list = await getJson(flags.server, "/api/jobs", jobListSchema);
    const inNamespace = <T extends { namespace: string }>(items: T[]) => items.filter((item) => !flags.namespace || item.namespace === flags.namespace);
    const shown = { jobs: inNamespace(list.jobs), cronJobs: inNamespace(list.cronJobs) };
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return;
    }
    process.stdout.write(cronJobTable(shown.cronJobs));
    process.stdout.write("\n");
    process.stdout.write(jobTable(shown.jobs, new Date()));
  });
}
