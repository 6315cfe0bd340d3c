import { z } from "zod";
import { quantitySchema } from "../quantity.ts";
import { absolutePathSchema, configKeySchema, dns1123Label, dns1123Subdomain, relativePathSchema } from "./names.ts";
import { checkExactlyOne } from "./one-of.ts";

/** Pod volumes: the directories a pod's processes share, on the node's disk or in memory. */

const fileModeSchema = z
  .number()
  .int("must be an integer")
  .min(0, "must be a file mode between 0 and 0777 (octal), both inclusive")
  .max(0o777, "must be a file mode between 0 and 0777 (octal), both inclusive");

// 0644, which Kubernetes writes as 420 in decimal.
const defaultFileMode = 0o644;

const keyToPathSchema = z.strictObject({
  key: configKeySchema,
  path: relativePathSchema,
  mode: fileModeSchema.optional(),
});

const emptyDirSchema = z.strictObject({
  medium: z.enum(["", "Memory"]).default(""),
  sizeLimit: quantitySchema.optional(),
});

const hostPathSchema = z.strictObject({
  path: absolutePathSchema,
  type: z
    .enum(["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"])
    .default(""),
});

const configMapVolumeSchema = z.strictObject({
  name: dns1123Subdomain(),
  items: z.array(keyToPathSchema).optional(),
  defaultMode: fileModeSchema.default(defaultFileMode),
  optional: z.boolean().default(false),
});

const secretVolumeSchema = z.strictObject({
  secretName: dns1123Subdomain(),
  items: z.array(keyToPathSchema).optional(),
  defaultMode: fileModeSchema.default(defaultFileMode),
  optional: z.boolean().default(false),
});

const persistentVolumeClaimSchema = z.strictObject({
  claimName: dns1123Subdomain(),
  readOnly: z.boolean().default(false),
});

const projectedKeysSchema = z.strictObject({
  name: dns1123Subdomain(),
  items: z.array(keyToPathSchema).optional(),
  optional: z.boolean().optional(),
});

// A downward API file holds pod metadata only (node and status fields are for env vars), whole label and annotation maps included.
const downwardApiFieldRefSchema = z.strictObject({
  fieldPath: z
    .string()
    .regex(
      /^metadata\.(name|namespace|uid|labels|annotations)$|^metadata\.(labels|annotations)\['[^']+'\]$/,
      "supported fieldPaths in a downwardAPI volume are metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, metadata.labels['<key>'], metadata.annotations['<key>']",
    ),
});

const downwardApiFileSchema = z.strictObject({
  path: relativePathSchema,
  fieldRef: downwardApiFieldRefSchema,
  mode: fileModeSchema.optional(),
});

const projectionSchema = z
  .strictObject({
    configMap: projectedKeysSchema.optional(),
    secret: projectedKeysSchema.optional(),
    downwardAPI: z.strictObject({ items: z.array(downwardApiFileSchema) }).optional(),
  })
  .superRefine((projection, ctx) =>
    checkExactlyOne(projection, ["configMap", "secret", "downwardAPI"], "projection source", ctx),
  );

const projectedSchema = z.strictObject({
  sources: z.array(projectionSchema).min(1, "must have at least one source"),
  defaultMode: fileModeSchema.default(defaultFileMode),
});

const volumeSources = ["emptyDir", "hostPath", "configMap", "secret", "persistentVolumeClaim", "projected"] as const;

export const volumeSchema = z
  .strictObject({
    name: dns1123Label(),
    emptyDir: emptyDirSchema.optional(),
    hostPath: hostPathSchema.optional(),
    configMap: configMapVolumeSchema.optional(),
    secret: secretVolumeSchema.optional(),
    persistentVolumeClaim: persistentVolumeClaimSchema.optional(),
    projected: projectedSchema.optional(),
  })
  .superRefine((volume, ctx) => checkExactlyOne(volume, volumeSources, "volume type", ctx));
export type Volume = z.infer<typeof volumeSchema>;
