import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import { BadRequestError } from "../errors.ts";

/**
 * The API's one parse of what a client sends (DESIGN.md, contracts: every
 * input from outside is parsed with zod at the boundary). A refusal is a 400
 * naming every bad field, e.g. `bad query parameters: limit: Too big: …`, so a
 * client learns which parameter to fix; query schemas are strict objects, so
 * a misspelt parameter is refused rather than silently ignored.
 */
export function parseInput<Schema extends z.ZodType>(schema: Schema, input: unknown, where: "query parameters" | "body"): z.infer<Schema> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join(".") || describeRoot(issue, where)}: ${issue.message}`).join("; ");
    throw new BadRequestError(`bad ${where}: ${detail}`);
  }
  return parsed.data;
}

/** An unknown query parameter is an issue at the root: name the parameter rather than "query". */
function describeRoot(issue: z.core.$ZodIssue, where: string): string {
  return issue.code === "unrecognized_keys" ? issue.keys.join(", ") : where;
}

/** `parseInput(schema, c.req.query(), "query parameters")`. */
export const parseQuery = <Schema extends z.ZodType>(schema: Schema, query: Record<string, string>): z.infer<Schema> => parseInput(schema, query, "query parameters");

/**
 * Refuses a request whose path or query carries a NUL (`%00`): no name, sha
 * or filter capstan stores can hold one (PostgreSQL text cannot), and passed
 * on to a query it failed there, a 500 and an error in the log for what is
 * the client's mistake. Checked once here, before any route decodes it.
 */
export const refuseNulInput: MiddlewareHandler = async (c, next) => {
  if (/%00/i.test(c.req.url)) throw new BadRequestError("the request's path or query contains a NUL character (%00)");
  await next();
};
