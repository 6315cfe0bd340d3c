import { z } from "zod";
import type { KindDefinition } from "./registry.ts";
import { dns1123Label, dns1123Subdomain, labelKeySchema, labelValueSchema, stringValueSchema } from "./names.ts";

/**
 * What every manifest shares (apiVersion, kind, metadata, no status) and the
 * one helper that assembles a kind from its own fields, so that each kind's
 * file holds only what is particular to it.
 */

export const CORE_V1 = ["v1", "capstan.dev/v1"] as const;
export const APPS_V1 = ["apps/v1", "capstan.dev/v1"] as const;
export const BATCH_V1 = ["batch/v1", "capstan.dev/v1"] as const;

// Kubernetes caps all annotations of one object together, not each value.
const annotationsTotalLimit = 256 * 1024;

/** A map whose bad keys are reported with the key's own rule, not zod's bare "Invalid key in record". */
export function keyedRecord<Value extends z.ZodType>(keySchema: z.ZodType<string>, valueSchema: Value) {
  return z.record(keySchema, valueSchema, {
    error: (issue) =>
      issue.code === "invalid_key"
        ? `invalid key ${JSON.stringify(issue.input)}: ${issue.issues.map((inner) => inner.message).join("; ")}`
        : undefined,
  });
}

export const labelsSchema = keyedRecord(labelKeySchema, labelValueSchema);

export const annotationsSchema = keyedRecord(labelKeySchema, stringValueSchema).superRefine((annotations, ctx) => {
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) total += key.length + value.length;
  if (total > annotationsTotalLimit) {
    ctx.addIssue({ code: "custom", message: `annotations may not be more than ${annotationsTotalLimit} bytes in total` });
  }
});

export interface ObjectMetaOptions {
  /** The rule for `metadata.name`; a DNS-1123 subdomain unless the kind needs stricter. */
  name?: z.ZodType<string>;
  /** Cluster-scoped kinds refuse `metadata.namespace` rather than silently ignore it. */
  namespaced?: boolean;
  kind?: string;
}

export function objectMeta(options: ObjectMetaOptions = {}) {
  const namespace =
    options.namespaced === false
      ? z
          .never({ error: `${options.kind ?? "this kind"} is cluster-scoped: metadata.namespace must not be set` })
          .optional()
      : dns1123Label().optional();
  return z.strictObject({
    name: options.name ?? dns1123Subdomain(),
    namespace,
    labels: labelsSchema.default({}),
    annotations: annotationsSchema.default({}),
  });
}

/** Metadata of a namespaced object named by a DNS-1123 subdomain: the common case. */
export const objectMetaSchema = objectMeta();
export type ObjectMeta = z.infer<typeof objectMetaSchema>;

/** Metadata inside a template (pod template, job template): no name, only labels and annotations. */
export const templateMetaSchema = z.strictObject({
  labels: labelsSchema.default({}),
  annotations: annotationsSchema.default({}),
});

/** `status` in Git would be overwritten at once and mislead whoever reads the file, so it is refused. */
const statusFromGitSchema = z
  .never({ error: "status is written by capstan and cannot be set from Git: remove it from the manifest" })
  .optional();

/** A field capstan deliberately does not support, refused with the reason instead of "unknown field". */
export function unsupported(reason: string) {
  return z.never({ error: reason }).optional();
}

function apiVersionSchema(kind: string, apiVersions: readonly [string, ...string[]]) {
  return z.enum(apiVersions, {
    error: (issue) =>
      `apiVersion ${JSON.stringify(issue.input)} does not serve kind ${kind}: use one of ${apiVersions.join(", ")}`,
  });
}

interface KindOptions<Kind extends string, Shape extends z.ZodRawShape> {
  kind: Kind;
  apiVersions: readonly [string, ...string[]];
  namespaced: boolean;
  /** The rule for `metadata.name`; a DNS-1123 subdomain by default. */
  name?: z.ZodType<string>;
  /** The kind's own top-level fields: `spec`, or `data`... for ConfigMap and Secret. */
  fields: Shape;
}

export function manifestSchema<const Kind extends string, Shape extends z.ZodRawShape>(options: KindOptions<Kind, Shape>) {
  return z.strictObject({
    apiVersion: apiVersionSchema(options.kind, options.apiVersions),
    kind: z.literal(options.kind),
    metadata: objectMeta({ name: options.name, namespaced: options.namespaced, kind: options.kind }),
    ...options.fields,
    status: statusFromGitSchema,
  });
}

/**
 * A kind's definition from its fields. `check` adds cross-field rules that span
 * the top level (e.g. Secret's `data` and `stringData`); rules inside `spec`
 * belong on the spec schema so their paths stay relative.
 */
export function defineKind<const Kind extends string, Shape extends z.ZodRawShape>(
  options: KindOptions<Kind, Shape> & {
    specOf(manifest: z.infer<ReturnType<typeof manifestSchema<Kind, Shape>>>): Record<string, unknown>;
    check?(manifest: z.infer<ReturnType<typeof manifestSchema<Kind, Shape>>>, ctx: z.RefinementCtx): void;
  },
): KindDefinition<ReturnType<typeof manifestSchema<Kind, Shape>>> {
  const base = manifestSchema(options);
  const check = options.check;
  const schema = check ? base.superRefine((manifest, ctx) => check(manifest, ctx)) : base;
  return {
    kind: options.kind,
    apiVersions: options.apiVersions,
    namespaced: options.namespaced,
    schema,
    specOf: options.specOf,
  };
}
