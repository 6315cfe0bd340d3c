import type { Context } from "hono";
import { z } from "zod";
import { BadRequestError, CapstanError, NotFoundError, toHttpStatus } from "../../errors.ts";
import type { Logger } from "../../logging.ts";
import { rollbackRequestSchema, type RollbackService } from "../../gitsync/index.ts";
import { authorizeAction } from "../auth.ts";
import { checkCsrf } from "./csrf.ts";
import { shortSha } from "./format.ts";
import type { PageContext } from "./layout.tsx";
import { ActionResultPage } from "./messages.tsx";

export interface ActionOptions {
  token?: string;
  rollback?: Pick<RollbackService, "rollback">;
  syncNow?: () => void;
  log: Logger;
  pageContext: (c: Context) => PageContext;
}

/** The fields a page form posts; anything else is ignored (the form is ours, extra fields change nothing). */
const formSchema = z.object({
  csrf: z.string().optional(),
  token: z.string().optional(),
  to: z.string().optional(),
});

async function readForm(c: Context): Promise<z.infer<typeof formSchema>> {
  const body = await c.req.parseBody().catch(() => ({}));
  const strings = Object.fromEntries(Object.entries(body).filter(([, value]) => typeof value === "string"));
  return formSchema.parse(strings);
}

/**
 * The order of checks is the same for both forms: CSRF (is this our page,
 * posted by this browser?), then CAPSTAN_TOKEN (may this person act?), then
 * the action, which ends as a Git commit or a fetch, never a state edit.
 */
export async function rollbackAction(c: Context, options: ActionOptions): Promise<Response> {
  const title = "Rollback";
  try {
    const form = await readForm(c);
    checkCsrf(c, form.csrf);
    authorizeAction(form.token || undefined, options.token, "rollback");
    const parsed = rollbackRequestSchema.safeParse({ to: form.to || undefined, requestedBy: "status page" });
    if (!parsed.success) throw new BadRequestError(`bad rollback form: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    if (!options.rollback) throw new NotFoundError("rollback is not available on this control plane");
    const result = await options.rollback.rollback(parsed.data);
    return c.html(
      <ActionResultPage
        page={options.pageContext(c)}
        title={title}
        ok
        status={200}
        message={`Rollback commit ${result.sha} pushed: it restores the manifests of ${shortSha(result.toSha)}; capstan rolls it out like any other commit.`}
        detail={result.message}
      />,
    );
  } catch (error) {
    return refused(c, options, title, error);
  }
}

export async function syncAction(c: Context, options: ActionOptions): Promise<Response> {
  const title = "Sync now";
  try {
    const form = await readForm(c);
    checkCsrf(c, form.csrf);
    authorizeAction(form.token || undefined, options.token, "sync");
    if (!options.syncNow) throw new NotFoundError("sync now is not available on this control plane");
    options.syncNow();
    return c.html(<ActionResultPage page={options.pageContext(c)} title={title} ok status={200} message="Sync requested: the leader fetches the Git source now." />);
  } catch (error) {
    return refused(c, options, title, error);
  }
}

function refused(c: Context, options: ActionOptions, title: string, error: unknown): Response | Promise<Response> {
  const status = toHttpStatus(error);
  if (status >= 500) options.log.error({ err: (error as Error).message, path: c.req.path }, "page action failed");
  const message = error instanceof CapstanError || status < 500 ? (error as Error).message : "internal error";
  return c.html(<ActionResultPage page={options.pageContext(c)} title={`${title} refused`} ok={false} status={status} message={message} />, status as 400);
}
