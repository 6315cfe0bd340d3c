import type { CronJobSummary } from "../jobs.ts";
import { healthTone } from "./format.ts";
import { Badge, Time } from "./layout.tsx";

/** Schedules, the last run and how it ended, and the next run. */
export function CronJobsSection(props: { cronJobs: CronJobSummary[]; now: Date }) {
  return (
    <section id="cronjobs" data-live-region>
      <h2>CronJobs</h2>
      {props.cronJobs.length === 0 ? (
        <p class="muted">No CronJobs.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>namespace</th>
              <th>name</th>
              <th>schedule</th>
              <th>last run</th>
              <th>outcome</th>
              <th>next run</th>
            </tr>
          </thead>
          <tbody>
            {props.cronJobs.map((cronJob) => (
              <tr data-cronjob={`${cronJob.namespace}/${cronJob.name}`} data-health={cronJob.health}>
                <td>{cronJob.namespace}</td>
                <td>{cronJob.name}</td>
                <td>
                  <code>{cronJob.schedule}</code>
                  {cronJob.timeZone ? <span class="muted"> {cronJob.timeZone}</span> : null}
                  {cronJob.suspend ? <span class="badge tone-busy"> suspended</span> : null}
                </td>
                <td>
                  {cronJob.lastRun ? (
                    <>
                      <Time at={cronJob.lastRun.scheduledTime} now={props.now} /> <span class="muted">{cronJob.lastRun.job}</span>
                    </>
                  ) : (
                    <Time at={cronJob.lastScheduleTime} now={props.now} />
                  )}
                  {cronJob.active > 0 ? <span class="muted"> ({cronJob.active} running)</span> : null}
                </td>
                <td>{cronJob.lastRun ? <Badge tone={healthTone(cronJob.lastRun.outcome)}>{cronJob.lastRun.outcome}</Badge> : <span class="muted">none yet</span>}</td>
                <td>{cronJob.suspend ? <span class="muted">suspended</span> : <Time at={cronJob.nextScheduleTime} now={props.now} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
