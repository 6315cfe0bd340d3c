import type { WorkloadSummary } from "../workloads.ts";
import { healthTone } from "./format.ts";
import { Badge, Bar } from "./layout.tsx";

export const workloadPath = (workload: { kind: string; namespace: string; name: string }): string =>
  `/workloads/${encodeURIComponent(workload.kind)}/${encodeURIComponent(workload.namespace)}/${encodeURIComponent(workload.name)}`;

/** Deployments, DaemonSets and StatefulSets: ready of desired, the rollout with its bar, and health as colour and word. */
export function WorkloadsSection(props: { workloads: WorkloadSummary[] }) {
  return (
    <section id="workloads" data-live-region>
      <h2>Workloads</h2>
      {props.workloads.length === 0 ? (
        <p class="muted">No workloads.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>kind</th>
              <th>namespace</th>
              <th>name</th>
              <th>ready</th>
              <th>rollout</th>
              <th>health</th>
            </tr>
          </thead>
          <tbody>
            {props.workloads.map((workload) => (
              <WorkloadRow workload={workload} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function WorkloadRow({ workload }: { workload: WorkloadSummary }) {
  const rolloutTone = healthTone(workload.rollout);
  return (
    <tr data-workload={`${workload.kind}/${workload.namespace}/${workload.name}`} data-health={workload.health} class={`tone-row-${healthTone(workload.health)}`}>
      <td>{workload.kind}</td>
      <td>{workload.namespace}</td>
      <td>
        <a href={workloadPath(workload)}>{workload.name}</a>
      </td>
      <td>
        <Bar part={workload.ready} whole={workload.desired} label={`${workload.ready}/${workload.desired}`} />
        {workload.autoscaledBy ? (
          <span class="muted">
            {" "}
            (autoscaled by {workload.autoscaledBy}; Git says {workload.gitReplicas})
          </span>
        ) : null}
      </td>
      <td class="rollout">
        <Bar part={workload.updated} whole={workload.desired} label={`${workload.updated}/${workload.desired} updated`} />{" "}
        <Badge tone={rolloutTone}>{workload.rollout}</Badge>
      </td>
      <td class="health">
        <Badge tone={healthTone(workload.health)}>{workload.health}</Badge>
      </td>
    </tr>
  );
}
