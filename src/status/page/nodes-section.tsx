import type { NodeList } from "../nodes.ts";
import { formatBytes, formatCpu } from "./format.ts";
import { Badge, Bar, Time } from "./layout.tsx";

type NodeItem = NodeList["items"][number];

export const nodePath = (name: string): string => `/nodes/${encodeURIComponent(name)}`;

export function readyTone(ready: NodeItem["ready"]): string {
  return ready === "True" ? "good" : ready === "False" ? "bad" : "unknown";
}

export function readyWord(node: NodeItem): string {
  return node.ready === "True" ? "Ready" : node.ready === "False" ? "NotReady" : "Unknown";
}

/** Capacity against what the pods placed there request; "no report" before the agent's first heartbeat. */
export function Capacity({ node }: { node: NodeItem }) {
  if (!node.capacity) return <span class="muted">no report yet</span>;
  return (
    <span class="capacity">
      <Bar kind="meter" part={node.allocated.cpuMillis} whole={node.capacity.cpuMillis} label={`cpu ${formatCpu(node.allocated.cpuMillis)} of ${formatCpu(node.capacity.cpuMillis)}`} />
      <Bar
        kind="meter"
        part={node.allocated.memoryBytes}
        whole={node.capacity.memoryBytes}
        label={`memory ${formatBytes(node.allocated.memoryBytes)} of ${formatBytes(node.capacity.memoryBytes)}`}
      />
    </span>
  );
}

export function NodesSection(props: { nodes: NodeItem[]; now: Date }) {
  return (
    <section id="nodes" data-live-region>
      <h2>Nodes</h2>
      {props.nodes.length === 0 ? (
        <p class="muted">No nodes.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th>ready</th>
              <th>address</th>
              <th>allocated / capacity</th>
              <th>pods</th>
              <th>agent</th>
              <th>host key</th>
            </tr>
          </thead>
          <tbody>
            {props.nodes.map((node) => (
              <tr data-node={node.name} data-ready={node.ready}>
                <td>
                  <a href={nodePath(node.name)}>{node.name}</a>
                  {node.unschedulable ? <span class="muted"> (cordoned)</span> : null}
                </td>
                <td>
                  <Badge tone={readyTone(node.ready)}>{readyWord(node)}</Badge>
                  {node.ready !== "True" && node.reason ? <span class="reason"> {node.reason}</span> : null}{" "}
                  <span class="muted">
                    heartbeat <Time at={node.lastHeartbeatTime} now={props.now} />
                  </span>
                </td>
                <td>
                  <code>
                    {node.transport === "local" ? "local" : `${node.address}:${node.port}`}
                  </code>
                </td>
                <td>
                  <Capacity node={node} />
                </td>
                <td>{node.allocated.pods}</td>
                <td>{node.agentVersion ?? <span class="muted">unknown</span>}</td>
                <td>
                  <HostKey node={node} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function HostKey({ node }: { node: NodeItem }) {
  if (!node.hostKey.fingerprint) return <span class="muted">{node.transport === "local" ? "local" : "not seen yet"}</span>;
  return (
    <span class="host-key">
      <code>{node.hostKey.fingerprint}</code>{" "}
      <span class="muted">{node.hostKey.pinned ? "pinned" : node.hostKey.trustedOnFirstUse ? "trusted on first use" : ""}</span>
    </span>
  );
}
