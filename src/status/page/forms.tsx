import { actionsDisabledMessage } from "../auth.ts";
import type { PageContext } from "./layout.tsx";

/** The token field every action form carries: actions need CAPSTAN_TOKEN (auth.ts), forms or API alike. */
function TokenField(props: { page: PageContext }) {
  return (
    <label class="token">
      <span class="visually-hidden">token</span>
      <input type="password" name="token" placeholder="CAPSTAN_TOKEN" autocomplete="off" disabled={!props.page.actionsEnabled} />
    </label>
  );
}

export function SyncNowForm(props: { page: PageContext }) {
  return (
    <form class="sync-now" method="post" action="/actions/sync">
      <input type="hidden" name="csrf" value={props.page.csrf} />
      <TokenField page={props.page} />
      <button type="submit" disabled={!props.page.actionsEnabled}>
        Sync now
      </button>
    </form>
  );
}

export function RollbackForm(props: { page: PageContext; sha: string }) {
  return (
    <form class="rollback" method="post" action="/actions/rollback">
      <input type="hidden" name="to" value={props.sha} />
      <input type="hidden" name="csrf" value={props.page.csrf} />
      <TokenField page={props.page} />
      <button type="submit" disabled={!props.page.actionsEnabled}>
        Roll back to this
      </button>
    </form>
  );
}

export function ActionsDisabledNote(props: { page: PageContext }) {
  if (props.page.actionsEnabled) return null;
  return (
    <p data-testid="actions-disabled" class="note">
      {actionsDisabledMessage("Rollback and sync now are")}. Start capstan with CAPSTAN_TOKEN set to enable them.
    </p>
  );
}
