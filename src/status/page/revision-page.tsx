import { formatProblem, type ManifestProblem } from "../../errors.ts";
import type { RevisionDetail } from "../revisions.ts";
import { healthTone, shortSha } from "./format.ts";
import { ActionsDisabledNote, RollbackForm } from "./forms.tsx";
import { Badge, Layout, Time, type PageContext } from "./layout.tsx";
import { revisionOutcome } from "./revisions-section.tsx";
import { workloadPath } from "./workloads-section.tsx";

/** A changed field's value as text; the rollout history already masks Secret values (absent `from`/`to`). */
function valueText(value: unknown): string {
  if (value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** One commit: who, what, what became of it, and the manifest changes it made (or its errors if rejected). */
export function RevisionPage(props: { page: PageContext; revision: RevisionDetail }) {
  const { revision } = props;
  // Without a rollout history the revision is known but not what it changed.
  const history = props.revision.changes.length > 0 || props.revision.health !== null ? revision : null;
  const outcome = revisionOutcome(revision);
  const workloadKinds = new Set(["Deployment", "DaemonSet", "StatefulSet"]);
  return (
    <Layout page={props.page} title={`Commit ${shortSha(revision.sha)}`}>
      <main>
        <h1>
          Commit <code>{shortSha(revision.sha)}</code>
        </h1>
        <section id="summary" data-live-region data-revision={revision.sha}>
          <pre class="commit-message subject">{revision.message}</pre>
          <dl>
            <dt>sha</dt>
            <dd>
              <code>{revision.sha}</code>
              {revision.live ? <span class="badge tone-good"> live</span> : null}
            </dd>
            <dt>author</dt>
            <dd class="author">
              {revision.authorName} &lt;{revision.authorEmail}&gt;
            </dd>
            <dt>committed</dt>
            <dd>
              <Time at={revision.committedAt} now={props.page.now} />
            </dd>
            <dt>outcome</dt>
            <dd>
              <Badge tone={outcome.tone}>{outcome.word}</Badge>
            </dd>
          </dl>
          {revision.state === "applied" && !revision.live ? (
            <>
              <RollbackForm page={props.page} sha={revision.sha} />
              <ActionsDisabledNote page={props.page} />
            </>
          ) : null}
        </section>
        <Problems id="errors" title="Errors" problems={revision.errors} />
        <Problems id="warnings" title="Warnings" problems={revision.warnings} />
        <section id="changes">
          <h2>Changes</h2>
          {!history ? (
            <p class="muted">No recorded changes for this commit.</p>
          ) : history.changes.length === 0 ? (
            <p class="muted">This commit changed no object.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>object</th>
                  <th>change</th>
                  <th>field</th>
                  <th>from</th>
                  <th>to</th>
                </tr>
              </thead>
              <tbody>
                {history.changes.flatMap((change) => {
                  const name = `${change.kind}/${change.namespace ? `${change.namespace}/` : ""}${change.name}`;
                  const label = workloadKinds.has(change.kind) ? <a href={workloadPath(change)}>{name}</a> : name;
                  const rows = change.fields.length === 0 ? [undefined] : change.fields;
                  return rows.map((field) => (
                    <tr data-change={`${change.kind}/${change.namespace}/${change.name}`} data-change-type={change.change}>
                      <td>{label}</td>
                      <td>{change.change}</td>
                      <td>{field ? <code>{field.path}</code> : null}</td>
                      <td>
                        <code>{field ? valueText(field.from) : ""}</code>
                      </td>
                      <td>
                        <code>{field ? valueText(field.to) : ""}</code>
                      </td>
                    </tr>
                  ));
                })}
                {history.changes.some((change) => change.truncated) ? (
                  <tr>
                    <td colspan={5} class="muted">
                      Some objects changed more fields than are listed.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          )}
        </section>
        {history && history.rollouts.length > 0 ? (
          <section id="rollouts" data-live-region>
            <h2>Rollouts</h2>
            <ul>
              {history.rollouts.map((rollout) => (
                <li data-rollout={rollout.id}>
                  <a href={workloadPath(rollout)}>
                    {rollout.kind}/{rollout.namespace}/{rollout.name}
                  </a>{" "}
                  <Badge tone={healthTone(rollout.outcome)}>{rollout.outcome}</Badge>
                  {rollout.reason ? <span class="reason"> {rollout.reason}</span> : null}
                </li>
              ))}
            </ul>
          </section>
        ) : null}
      </main>
    </Layout>
  );
}

/** A commit's errors or warnings, each as `file:line:column path: message`; nothing when there are none. */
function Problems(props: { id: string; title: string; problems: ManifestProblem[] }) {
  if (props.problems.length === 0) return null;
  return (
    <section id={props.id}>
      <h2>{props.title}</h2>
      <ul class="problems">
        {props.problems.map((problem) => (
          <li>
            <code>{formatProblem(problem)}</code>
          </li>
        ))}
      </ul>
    </section>
  );
}
