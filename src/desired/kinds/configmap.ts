import { z } from "zod";
import { CORE_V1, defineKind, keyedRecord } from "./meta.ts";
import { configKeySchema, isBase64, stringValueSchema } from "./names.ts";

/** A ConfigMap: named configuration values, handed to pods as env vars or files. */

// Kubernetes stores an object in etcd in one piece and caps ConfigMaps and Secrets at 1 MiB.
export const configDataLimitBytes = 1024 * 1024;

export const base64ValueSchema = z
  .string({ error: "must be a base64-encoded string" })
  .refine(isBase64, "must be a base64-encoded string");

export const configMapKind = defineKind({
  kind: "ConfigMap",
  apiVersions: CORE_V1,
  namespaced: true,
  fields: {
    data: keyedRecord(configKeySchema, stringValueSchema).default({}),
    binaryData: keyedRecord(configKeySchema, base64ValueSchema).default({}),
    immutable: z.boolean().default(false),
  },
  check(manifest, ctx) {
    let size = 0;
    for (const [key, value] of Object.entries(manifest.data)) {
      size += key.length + Buffer.byteLength(value);
      if (Object.hasOwn(manifest.binaryData, key)) {
        ctx.addIssue({ code: "custom", path: ["binaryData", key], message: `duplicate of key ${JSON.stringify(key)} in data` });
      }
    }
    for (const [key, value] of Object.entries(manifest.binaryData)) size += key.length + (value.length * 3) / 4;
    if (size > configDataLimitBytes) {
      ctx.addIssue({ code: "custom", path: ["data"], message: `data may not be more than ${configDataLimitBytes} bytes in total` });
    }
  },
  specOf: (manifest) => ({ data: manifest.data, binaryData: manifest.binaryData, immutable: manifest.immutable }),
});
export type ConfigMap = z.infer<typeof configMapKind.schema>;
