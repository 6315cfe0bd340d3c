import { Layout, type PageContext } from "./layout.tsx";

/** An unknown object or page: says what was looked for, links home. */
export function NotFoundPage(props: { page: PageContext; what: string }) {
  return (
    <Layout page={props.page} title="Not found">
      <main>
        <h1>Not found</h1>
        <p role="alert" data-testid="not-found">
          {props.what}
        </p>
        <p>
          <a href="/">Back to the overview</a>
        </p>
      </main>
    </Layout>
  );
}

/** The answer to a form post: `role="status"` when it worked, `role="alert"` when refused (with the HTTP status to match). */
export function ActionResultPage(props: { page: PageContext; title: string; ok: boolean; message: string; detail?: string; status: number }) {
  return (
    <Layout page={props.page} title={props.title}>
      <main>
        <h1>{props.title}</h1>
        <p role={props.ok ? "status" : "alert"} data-status={props.status} class={props.ok ? "ok" : "refused"}>
          {props.message}
        </p>
        {props.detail ? <pre class="detail">{props.detail}</pre> : null}
        <p>
          <a href="/">Back to the overview</a>
        </p>
      </main>
    </Layout>
  );
}

/** Anything else that went wrong while rendering: the message of a named error, never a stack. */
export function ErrorPage(props: { page: PageContext; status: number; message: string }) {
  return (
    <Layout page={props.page} title="Error">
      <main>
        <h1>{props.status === 400 ? "Bad request" : props.status === 503 ? "Unavailable" : "Error"}</h1>
        <p role="alert">{props.message}</p>
        <p>
          <a href="/">Back to the overview</a>
        </p>
      </main>
    </Layout>
  );
}
