import { healthTone, shortSha, subjectOf } from "./format.ts";
import { RollbackForm } from "./forms.tsx";
import { Badge, Time, type PageContext } from "./layout.tsx";
import type { RevisionRow } from "./overview.ts";

export const revisionPath = (sha: string): string => `/revisions/${encodeURIComponent(sha)}`;

/** What became of a commit: rejected, superseded, or its rollouts' health once applied. */
export function revisionOutcome(revision: RevisionRow): { word: string; tone: string } {
  if (revision.state === "rejected") return { word: `rejected (${revision.errors.length} ${revision.errors.length === 1 ? "error" : "errors"})`, tone: "bad" };
  if (revision.state === "superseded") return { word: "superseded", tone: "unknown" };
  if (revision.state === "pending") return { word: "pending", tone: "busy" };
  const health = revision.health ?? "applied";
  return { word: health, tone: health === "applied" ? "good" : healthTone(health) };
}

export function RevisionsSection(props: { revisions: RevisionRow[]; liveSha: string | null; page: PageContext }) {
  return (
    <section id="revisions" data-live-region>
      <h2>Recent revisions</h2>
      {props.revisions.length === 0 ? (
        <p class="muted">No commits seen yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>commit</th>
              <th>author</th>
              <th>message</th>
              <th>when</th>
              <th>outcome</th>
              <th>rollback</th>
            </tr>
          </thead>
          <tbody>
            {props.revisions.map((revision) => {
              const outcome = revisionOutcome(revision);
              const live = revision.sha === props.liveSha;
              return (
                <tr data-revision={revision.sha} data-state={revision.state} class={live ? "live" : undefined}>
                  <td>
                    <a href={revisionPath(revision.sha)}>
                      <code>{shortSha(revision.sha)}</code>
                    </a>
                    {live ? <span class="badge tone-good"> live</span> : null}
                  </td>
                  <td class="author">{revision.authorName}</td>
                  <td class="subject">{subjectOf(revision.message)}</td>
                  <td>
                    <Time at={revision.committedAt} now={props.page.now} />
                  </td>
                  <td>
                    <Badge tone={outcome.tone}>{outcome.word}</Badge>
                  </td>
                  <td>{revision.state === "applied" && !live ? <RollbackForm page={props.page} sha={revision.sha} /> : null}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
