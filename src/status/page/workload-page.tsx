import { EventsSection } from "./events-section.tsx";
import { healthTone, shortSha } from "./format.ts";
import { Badge, Bar, Layout, Time, type PageContext } from "./layout.tsx";
import { Conditions, PodView } from "./pod-view.tsx";
import { revisionPath } from "./revisions-section.tsx";
import type { WorkloadPageData } from "./workload-data.ts";

/** One workload: its line of the overview and conditions, its containers (env names only), its pods with their log tails, its rollouts and events. */
export function WorkloadPage(props: { page: PageContext; data: WorkloadPageData }) {
  const { detail, containers, logs } = props.data;
  const { workload, source } = detail;
  const now = props.page.now;
  const title = `${workload.kind} ${workload.namespace}/${workload.name}`;
  return (
    <Layout page={props.page} title={title}>
      <main>
        <h1>{title}</h1>
        <section id="summary" data-live-region>
          <p data-workload={`${workload.kind}/${workload.namespace}/${workload.name}`} data-health={workload.health}>
            <Bar part={workload.ready} whole={workload.desired} label={`${workload.ready}/${workload.desired} ready`} /> rollout{" "}
            <Badge tone={healthTone(workload.rollout)}>{workload.rollout}</Badge> health <Badge tone={healthTone(workload.health)}>{workload.health}</Badge>
          </p>
          <p class="muted">
            {source.file ? (
              <>
                declared in <code>{`${source.file}:${source.line ?? 1}`}</code>
              </>
            ) : (
              "declared by no commit"
            )}
            {source.revisionSha ? (
              <>
                {" "}
                at <a href={revisionPath(source.revisionSha)}>{shortSha(source.revisionSha)}</a>
              </>
            ) : null}
          </p>
          <Conditions conditions={detail.conditions} now={now} />
        </section>
        <section id="containers">
          <h2>Containers</h2>
          <table>
            <thead>
              <tr>
                <th>name</th>
                <th>runs</th>
                <th>environment (names only)</th>
              </tr>
            </thead>
            <tbody>
              {containers.map((container) => (
                <tr data-container={container.name}>
                  <td>{container.name}</td>
                  <td>
                    <code>{container.run}</code>
                  </td>
                  <td>
                    <ul class="env">
                      {container.env.map((variable) => (
                        <li>
                          <code>{variable.name}</code> <span class="muted">{variable.from}</span>
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section id="pods" data-live-region>
          <h2>Pods</h2>
          {detail.pods.length === 0 ? <p class="muted">No pods.</p> : detail.pods.map((pod) => <PodView pod={pod} logs={logs.get(pod.name)} now={now} />)}
        </section>
        <section id="rollouts" data-live-region>
          <h2>Rollouts</h2>
          {detail.rollouts.length === 0 ? (
            <p class="muted">No rollouts recorded.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>commit</th>
                  <th>message</th>
                  <th>started</th>
                  <th>outcome</th>
                </tr>
              </thead>
              <tbody>
                {detail.rollouts.map((rollout) => (
                  <tr data-rollout={rollout.id}>
                    <td>
                      <a href={revisionPath(rollout.revisionSha)}>
                        <code>{shortSha(rollout.revisionSha)}</code>
                      </a>
                    </td>
                    <td class="subject">{rollout.subject}</td>
                    <td>
                      <Time at={rollout.startedAt} now={now} />
                    </td>
                    <td>
                      <Badge tone={healthTone(rollout.outcome)}>{rollout.outcome}</Badge>
                      {rollout.reason ? <span class="reason"> {rollout.reason}</span> : null}
                      {rollout.revertedBy ? (
                        <span>
                          {" "}
                          reverted by <a href={revisionPath(rollout.revertedBy)}>{shortSha(rollout.revertedBy)}</a>
                        </span>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <EventsSection events={detail.events} filter={{}} next={null} now={now} action="/" showFilter={false} />
      </main>
    </Layout>
  );
}
