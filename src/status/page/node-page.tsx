import type { NodeDetail } from "../node-detail.ts";
import { EventsSection } from "./events-section.tsx";
import { shortSha } from "./format.ts";
import { Badge, Layout, Time, type PageContext } from "./layout.tsx";
import { Capacity, HostKey, readyTone, readyWord } from "./nodes-section.tsx";
import { Conditions, phaseTone } from "./pod-view.tsx";
import { revisionPath } from "./revisions-section.tsx";

/** One node (the data of GET /api/nodes/:name): readiness and why, capacity, agent, host key, labels, conditions, the pods placed there and its events. */
export function NodePage(props: { page: PageContext; detail: NodeDetail }) {
  const { node, pods, events, conditions } = props.detail;
  const now = props.page.now;
  return (
    <Layout page={props.page} title={`Node ${node.name}`}>
      <main>
        <h1>Node {node.name}</h1>
        <section id="summary" data-live-region data-node={node.name}>
          <dl>
            <dt>ready</dt>
            <dd>
              <Badge tone={readyTone(node.ready)}>{readyWord(node)}</Badge>
              {node.reason ? <span class="reason"> {node.reason}</span> : null}
              {node.message ? <span class="muted"> {node.message}</span> : null}
            </dd>
            <dt>last heartbeat</dt>
            <dd>
              <Time at={node.lastHeartbeatTime} now={now} />
            </dd>
            <dt>address</dt>
            <dd>
              <code>{node.transport === "local" ? "local" : `${node.address}:${node.port}`}</code>
              {node.unschedulable ? <span class="muted"> (cordoned)</span> : null}
            </dd>
            <dt>allocated / capacity</dt>
            <dd>
              <Capacity node={node} />
            </dd>
            <dt>pods</dt>
            <dd>{node.allocated.pods}</dd>
            <dt>agent</dt>
            <dd>{node.agentVersion ?? <span class="muted">unknown</span>}</dd>
            <dt>runtimes</dt>
            <dd>{node.runtimes.length > 0 ? node.runtimes.join(", ") : <span class="muted">none reported</span>}</dd>
            <dt>host key</dt>
            <dd>
              <HostKey node={node} />
            </dd>
            <dt>labels</dt>
            <dd>
              {Object.entries(node.labels).map(([key, value]) => (
                <code class="label-pair">
                  {key}={value}
                </code>
              ))}
            </dd>
          </dl>
          <Conditions conditions={conditions} now={now} />
        </section>
        <section id="pods" data-live-region>
          <h2>Pods</h2>
          {pods.length === 0 ? (
            <p class="muted">No pods on this node.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>namespace</th>
                  <th>name</th>
                  <th>phase</th>
                  <th>ready</th>
                  <th>restarts</th>
                  <th>last error</th>
                  <th>commit</th>
                </tr>
              </thead>
              <tbody>
                {pods.map((pod) => (
                  <tr data-pod={`${pod.namespace}/${pod.name}`}>
                    <td>{pod.namespace}</td>
                    <td>{pod.name}</td>
                    <td>
                      <Badge tone={phaseTone(pod.phase)}>{pod.phase}</Badge>
                    </td>
                    <td>{pod.ready ? "yes" : "no"}</td>
                    <td>{pod.restarts}</td>
                    <td class="last-error">{pod.lastError ?? pod.reason ?? ""}</td>
                    <td>{pod.commit ? <a href={revisionPath(pod.commit)}>{shortSha(pod.commit)}</a> : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <EventsSection events={events} filter={{}} next={null} now={now} action="/" showFilter={false} />
      </main>
    </Layout>
  );
}
