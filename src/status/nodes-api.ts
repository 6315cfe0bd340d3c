import { Hono } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import { BadRequestError } from "../errors.ts";
import type { DesiredStore } from "../desired/index.ts";
import type { LogsParams } from "../nodes/protocol.ts";
import { nodeDetail, nodeDetailSchema } from "./node-detail.ts";
import { nodeList, nodeListSchema } from "./nodes.ts";
import { parseQuery } from "./request-input.ts";

/** Reads logs from whichever node runs the pod (the NodeManager in the control plane). */
export interface LogSource {
  logs(params: LogsParams, onText: (container: string, text: string) => void, signal?: AbortSignal): Promise<void>;
}

const logsQuerySchema = z.strictObject({
  container: z.string().min(1).optional(),
  tailLines: z.coerce.number().int().min(0).max(100_000).optional(),
  follow: z.enum(["true", "false", "1", "0"]).transform((value) => value === "true" || value === "1").optional(),
});

export function nodeRoutes(store: DesiredStore, logSource: LogSource | undefined): Hono {
  const api = new Hono();

  api.get("/nodes", async (c) => {
    parseQuery(z.strictObject({}), c.req.query());
    return c.json(nodeListSchema.parse(await nodeList(store)));
  });

  api.get("/nodes/:name", async (c) => {
    parseQuery(z.strictObject({}), c.req.query());
    return c.json(nodeDetailSchema.parse(await nodeDetail(store, c.req.param("name"))));
  });

  api.get("/pods/:namespace/:name/logs", async (c) => {
    if (!logSource) throw new BadRequestError("logs are served by the control plane that runs the node links");
    const query = parseQuery(logsQuerySchema, c.req.query());
    const params: LogsParams = {
      namespace: c.req.param("namespace"),
      name: c.req.param("name"),
      container: query.container,
      tailLines: query.tailLines,
      follow: query.follow ?? false,
    };
    if (!params.follow) {
      let text = "";
      await logSource.logs(params, (_container, chunk) => (text += chunk));
      return c.text(text);
    }
    // Once streaming starts the status is sent; so a missing pod or an unconnected node is found first, with an empty tail.
    await logSource.logs({ ...params, follow: false, tailLines: 0 }, () => undefined);
    c.header("content-type", "text/plain; charset=utf-8");
    return stream(c, async (output) => {
      const abort = new AbortController();
      output.onAbort(() => abort.abort());
      await logSource.logs(params, (_container, chunk) => void output.write(chunk), abort.signal).catch(() => undefined);
    });
  });

  return api;
}
