import { z } from "zod";
import { base64ValueSchema, configDataLimitBytes } from "./configmap.ts";
import { CORE_V1, defineKind, keyedRecord } from "./meta.ts";
import { configKeySchema, stringValueSchema } from "./names.ts";

/**
 * A Secret. Its values never appear in an error message: messages name the
 * key, never the value, because errors are stored, logged and shown on the page.
 */

// Types whose consumers rely on particular keys, as Kubernetes checks them.
const requiredKeysByType: Record<string, readonly string[]> = {
  "kubernetes.io/tls": ["tls.crt", "tls.key"],
  "kubernetes.io/ssh-auth": ["ssh-privatekey"],
};

export const secretKind = defineKind({
  kind: "Secret",
  apiVersions: CORE_V1,
  namespaced: true,
  fields: {
    type: z.string().min(1, "must not be empty").default("Opaque"),
    data: keyedRecord(configKeySchema, base64ValueSchema).default({}),
    /** Plain-text values for convenience; merged into `data` (base64) when stored, winning over `data`. */
    stringData: keyedRecord(configKeySchema, stringValueSchema).default({}),
    immutable: z.boolean().default(false),
  },
  check(manifest, ctx) {
    const merged = mergedSecretData(manifest);
    for (const key of requiredKeysByType[manifest.type] ?? []) {
      if (!Object.hasOwn(merged, key)) {
        ctx.addIssue({ code: "custom", path: ["data"], message: `a ${manifest.type} Secret must have key ${JSON.stringify(key)}` });
      }
    }
    let size = 0;
    for (const [key, value] of Object.entries(merged)) size += key.length + (value.length * 3) / 4;
    if (size > configDataLimitBytes) {
      ctx.addIssue({ code: "custom", path: ["data"], message: `data may not be more than ${configDataLimitBytes} bytes in total` });
    }
  },
  specOf: (manifest) => ({ type: manifest.type, data: mergedSecretData(manifest), immutable: manifest.immutable }),
});
export type Secret = z.infer<typeof secretKind.schema>;

/** `data` with `stringData` encoded and laid over it, as the Kubernetes API server stores a Secret. */
export function mergedSecretData(secret: { data: Record<string, string>; stringData: Record<string, string> }): Record<string, string> {
  const merged: Record<string, string> = { ...secret.data };
  for (const [key, value] of Object.entries(secret.stringData)) merged[key] = Buffer.from(value, "utf8").toString("base64");
  return merged;
}
