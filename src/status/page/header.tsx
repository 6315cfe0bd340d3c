import type { Revision } from "../../desired/index.ts";
import { shortSha, subjectOf } from "./format.ts";
import { Time, type PageContext } from "./layout.tsx";
import type { Overview, SyncStatus } from "./overview.ts";
import { ActionsDisabledNote, SyncNowForm } from "./forms.tsx";

/** Which source, which commit is live, and how the sync stands: what a user looks at first. */
export function Header(props: { overview: Overview; page: PageContext }) {
  const { source, live, sync } = props.overview;
  return (
    <header id="summary" class="summary" data-live-region>
      <div data-testid="source" class="source">
        {source ? (
          <>
            <span class="label">source</span> <code class="url">{source.url}</code> <span class="label">branch</span>{" "}
            <code class="branch">{source.branch}</code>
            {source.path ? (
              <>
                {" "}
                <span class="label">path</span> <code>{source.path}</code>
              </>
            ) : null}
          </>
        ) : (
          <span class="muted">no Git source synced yet</span>
        )}
      </div>
      <LiveCommit live={live} now={props.page.now} />
      <SyncState sync={sync} now={props.page.now} />
      <div class="actions-bar">
        <SyncNowForm page={props.page} />
        <ActionsDisabledNote page={props.page} />
      </div>
    </header>
  );
}

function LiveCommit(props: { live: Revision | null; now: Date }) {
  const { live } = props;
  if (!live) {
    return (
      <div data-testid="live-commit" class="live-commit muted">
        no commit live yet
      </div>
    );
  }
  return (
    <div data-testid="live-commit" class="live-commit">
      <span class="label">live</span>{" "}
      <a href={`/revisions/${live.sha}`} class="sha">
        <code>{shortSha(live.sha)}</code>
      </a>{" "}
      <span class="subject">{subjectOf(live.message)}</span> <span class="author">{live.authorName}</span>{" "}
      <Time at={live.committedAt} now={props.now} />
    </div>
  );
}

function SyncState(props: { sync: SyncStatus; now: Date }) {
  const { sync } = props;
  return (
    <div data-testid="sync-state" data-state={sync.state} class={`sync-state state-${sync.state}`}>
      {sync.state === "in-sync" && <span>in sync</span>}
      {sync.state === "syncing" && <span>syncing: {sync.detail}</span>}
      {sync.state === "unreachable" && (
        <span>
          source unreachable since <Time at={sync.since} now={props.now} />
          {sync.error ? <span class="error">: {sync.error}</span> : null}
        </span>
      )}
      {sync.state === "rejected" && (
        <>
          <span>
            commit <a href={`/revisions/${sync.sha}`}>{shortSha(sync.sha)}</a> <span class="subject">{sync.subject}</span> rejected; the previous commit stays live:
          </span>
          <ul class="problems">
            {sync.errors.map((error) => (
              <li>
                <code>{error}</code>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
