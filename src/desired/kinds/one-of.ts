import type { z } from "zod";

/**
 * Kubernetes "union" objects (a probe's handler, a volume's source, an env
 * var's valueFrom) carry exactly one of several optional fields. Missing is
 * reported on the object; each extra one on its own field, so the error points
 * at the line to delete.
 */
export function checkExactlyOne<T extends object>(
  value: T,
  fields: readonly (keyof T & string)[],
  what: string,
  ctx: z.RefinementCtx,
): void {
  const present = fields.filter((field) => value[field] !== undefined);
  if (present.length === 0) {
    ctx.addIssue({ code: "custom", message: `must specify a ${what}: one of ${fields.join(", ")}` });
  }
  for (const extra of present.slice(1)) {
    ctx.addIssue({
      code: "custom",
      path: [extra],
      message: `may not specify more than one ${what} (${present[0]} is already set)`,
    });
  }
}
