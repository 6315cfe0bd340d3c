import type { Condition, PodDetail } from "../pod-detail.ts";
import { shortSha } from "./format.ts";
import { Badge, Time } from "./layout.tsx";
import { nodePath } from "./nodes-section.tsx";
import { revisionPath } from "./revisions-section.tsx";
import type { LogTail } from "./workload-data.ts";

export function phaseTone(phase: string): string {
  return phase === "Failed" ? "bad" : phase === "Running" || phase === "Succeeded" ? "good" : "busy";
}

/** One pod of a workload: where it runs, how it is doing, what last went wrong, and its log tail. */
export function PodView(props: { pod: PodDetail; logs: LogTail | undefined; now: Date }) {
  const { pod } = props;
  return (
    <article class="pod" data-pod={`${pod.namespace}/${pod.name}`} data-phase={pod.phase} data-ready={String(pod.ready)}>
      <h3>{pod.name}</h3>
      <dl>
        <dt>node</dt>
        <dd>{pod.node ? <a href={nodePath(pod.node)}>{pod.node}</a> : <span class="muted">not scheduled</span>}</dd>
        <dt>phase</dt>
        <dd>
          <Badge tone={phaseTone(pod.phase)}>{pod.phase}</Badge>
          {pod.reason ? <span class="reason"> {pod.reason}</span> : null}
        </dd>
        <dt>ready</dt>
        <dd>{pod.ready ? "yes" : "no"}</dd>
        <dt>restarts</dt>
        <dd>{pod.restarts}</dd>
        <dt>last error</dt>
        <dd class="last-error">{pod.lastError ?? <span class="muted">none</span>}</dd>
        <dt>containers</dt>
        <dd>
          {pod.containers.map((container) => (
            <span class="container-state" data-container-state={container.name}>
              <code>{container.name}</code> {container.init ? "(init) " : ""}
              {container.state}
              {container.reason ? `: ${container.reason}` : ""}
              {container.ready ? ", ready" : ""}{" "}
            </span>
          ))}
        </dd>
        <dt>commit</dt>
        <dd>{pod.commit ? <a href={revisionPath(pod.commit)}>{shortSha(pod.commit)}</a> : <span class="muted">unknown</span>}</dd>
        <dt>created</dt>
        <dd>
          <Time at={pod.createdAt} now={props.now} />
        </dd>
      </dl>
      {props.logs ? <LogTailView logs={props.logs} /> : null}
    </article>
  );
}

function LogTailView({ logs }: { logs: LogTail }) {
  return (
    <>
      <h4>Log tail</h4>
      {logs.available ? (
        logs.text ? (
          <pre class="log-tail">{logs.text}</pre>
        ) : (
          <p class="muted log-tail">no output yet</p>
        )
      ) : (
        <p class="muted log-tail" data-testid="logs-unavailable">
          {logs.why}
        </p>
      )}
    </>
  );
}

/** An object's conditions, False ones (what is wrong) in red. */
export function Conditions(props: { conditions: Condition[]; now: Date }) {
  if (props.conditions.length === 0) return null;
  return (
    <table class="conditions">
      <thead>
        <tr>
          <th>condition</th>
          <th>status</th>
          <th>reason</th>
          <th>message</th>
          <th>since</th>
        </tr>
      </thead>
      <tbody>
        {props.conditions.map((condition) => (
          <tr data-condition={condition.type}>
            <td>{condition.type}</td>
            <td>
              <Badge tone={condition.status === "True" ? "good" : condition.status === "False" ? "bad" : "unknown"}>{condition.status}</Badge>
            </td>
            <td>{condition.reason ?? ""}</td>
            <td>{condition.message ?? ""}</td>
            <td>{condition.lastTransitionTime ? <Time at={condition.lastTransitionTime} now={props.now} /> : ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
