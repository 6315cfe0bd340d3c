import { EventsSection } from "./events-section.tsx";
import { healthTone, shortSha, subjectOf } from "./format.ts";
import { Badge, Bar, Layout, Time, type PageContext } from "./layout.tsx";
import { nodePath } from "./nodes-section.tsx";
import { revisionPath } from "./revisions-section.tsx";
import type { PodRow, WorkloadDetail } from "./workload-data.ts";

/** One workload: its line of the overview, its containers (env names only), its pods with their log tails, its rollouts and events. */
export function WorkloadPage(props: { page: PageContext; detail: WorkloadDetail; path: string }) {
  const { object, summary, containers, pods, history, events } = props.detail;
  const title = `${object.kind} ${object.namespace}/${object.name}`;
  return (
    <Layout page={props.page} title={title}>
      <main>
        <h1>{title}</h1>
        <section id="summary" data-live-region>
          {summary ? (
            <p data-workload={`${summary.kind}/${summary.namespace}/${summary.name}`} data-health={summary.health}>
              <Bar part={summary.ready} whole={summary.desired} label={`${summary.ready}/${summary.desired} ready`} /> rollout{" "}
              <Badge tone={healthTone(summary.rollout)}>{summary.rollout}</Badge> health <Badge tone={healthTone(summary.health)}>{summary.health}</Badge>
            </p>
          ) : null}
          <p class="muted">
            generation {object.generation}, observed {object.observedGeneration}
            {object.sourceFile ? (
              <>
                ; declared in <code>{`${object.sourceFile}:${object.sourceLine ?? 1}`}</code>
              </>
            ) : null}
            {object.revisionSha ? (
              <>
                {" "}
                at <a href={revisionPath(object.revisionSha)}>{shortSha(object.revisionSha)}</a>
              </>
            ) : null}
          </p>
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
          {pods.length === 0 ? <p class="muted">No pods.</p> : pods.map((pod) => <Pod pod={pod} now={props.page.now} />)}
        </section>
        <section id="rollouts" data-live-region>
          <h2>Rollouts</h2>
          {history.length === 0 ? (
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
                {history.flatMap((entry) =>
                  entry.rollouts
                    .filter((rollout) => rollout.kind === object.kind && rollout.namespace === object.namespace && rollout.name === object.name)
                    .map((rollout) => (
                      <tr data-rollout={rollout.id}>
                        <td>
                          <a href={revisionPath(entry.sha)}>
                            <code>{shortSha(entry.sha)}</code>
                          </a>
                        </td>
                        <td class="subject">{subjectOf(entry.message)}</td>
                        <td>
                          <Time at={rollout.startedAt} now={props.page.now} />
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
                    )),
                )}
              </tbody>
            </table>
          )}
        </section>
        <EventsSection events={events} filter={{}} next={null} now={props.page.now} action={props.path} showFilter={false} />
      </main>
    </Layout>
  );
}

function Pod(props: { pod: PodRow; now: Date }) {
  const { pod } = props;
  return (
    <article class="pod" data-pod={`${pod.namespace}/${pod.name}`} data-phase={pod.phase} data-ready={String(pod.ready)}>
      <h3>{pod.name}</h3>
      <dl>
        <dt>node</dt>
        <dd>{pod.node ? <a href={nodePath(pod.node)}>{pod.node}</a> : <span class="muted">not scheduled</span>}</dd>
        <dt>phase</dt>
        <dd>
          <Badge tone={pod.phase === "Failed" ? "bad" : pod.phase === "Running" || pod.phase === "Succeeded" ? "good" : "busy"}>{pod.phase}</Badge>
        </dd>
        <dt>ready</dt>
        <dd>{pod.ready ? "yes" : "no"}</dd>
        <dt>restarts</dt>
        <dd>{pod.restarts}</dd>
        <dt>last error</dt>
        <dd class="last-error">{pod.lastError ?? <span class="muted">none</span>}</dd>
        <dt>commit</dt>
        <dd>{pod.commit ? <a href={revisionPath(pod.commit)}>{shortSha(pod.commit)}</a> : <span class="muted">unknown</span>}</dd>
        <dt>created</dt>
        <dd>
          <Time at={pod.createdAt} now={props.now} />
        </dd>
      </dl>
      <h4>Log tail</h4>
      {pod.logs.available ? (
        pod.logs.text ? (
          <pre class="log-tail">{pod.logs.text}</pre>
        ) : (
          <p class="muted log-tail">no output yet</p>
        )
      ) : (
        <p class="muted log-tail" data-testid="logs-unavailable">
          {pod.logs.why}
        </p>
      )}
    </article>
  );
}
