import { isIP } from "node:net";
import { z } from "zod";
import { quantitySchema } from "../quantity.ts";
import { taintEffectSchema } from "./affinity.ts";
import { CORE_V1, defineKind } from "./meta.ts";
import { absolutePathSchema, isBase64, labelKeySchema, labelValueSchema, portNumberSchema } from "./names.ts";

/**
 * A Node: a host capstan reaches over SSH (or the local host directly).
 * Declared in Git so that adding a host is a commit; its labels come from
 * `metadata.labels`.
 */

const hostnamePattern = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/;

const addressSchema = z
  .string()
  .refine(
    (address) => isIP(address) !== 0 || (address.length <= 253 && hostnamePattern.test(address)),
    "must be an IP address or a DNS hostname",
  );

const userSchema = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a POSIX user name (lower case letters, digits, '_' or '-')");

const hostKeyTypes = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
];

/**
 * Why a pinned host key is unusable, or undefined. The key blob starts with
 * its own type name, so a line whose type and blob disagree (a common
 * copy-paste slip) is caught here rather than as a failed handshake later.
 */
export function hostKeyProblem(line: string): string | undefined {
  const [type, blob] = line.trim().split(/\s+/);
  if (!type || !blob || !hostKeyTypes.includes(type)) {
    return `must be an OpenSSH public key line such as "ssh-ed25519 AAAAC3Nz..." (types: ${hostKeyTypes.join(", ")})`;
  }
  if (!isBase64(blob)) return "the key part is not valid base64";
  const bytes = Buffer.from(blob, "base64");
  const nameLength = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
  if (nameLength < 0 || bytes.length < 4 + nameLength || bytes.toString("latin1", 4, 4 + nameLength) !== type) {
    return `the key part does not hold a ${type} key`;
  }
  return undefined;
}

const taintSchema = z.strictObject({
  key: labelKeySchema,
  value: labelValueSchema.optional(),
  effect: taintEffectSchema,
});

const nodeSpecSchema = z
  .strictObject({
    transport: z.enum(["ssh", "local"]).default("ssh"),
    address: addressSchema,
    port: portNumberSchema.default(22),
    user: userSchema.default("root"),
    identityFile: z.string().min(1).optional(),
    hostKey: z
      .string()
      .superRefine((line, ctx) => {
        const problem = hostKeyProblem(line);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    /** The command that runs capstan-agent on the node, when it is not `capstan-agent` on the user's PATH (may include arguments: "node /opt/capstan/bin/capstan-agent.js"). */
    agentPath: z.string().min(1).optional(),
    /** The agent's state directory on the node (its pods, logs and socket); several agents on one host each need their own. */
    stateDir: absolutePathSchema.optional(),
    taints: z.array(taintSchema).optional(),
    unschedulable: z.boolean().default(false),
    /** What the scheduler may hand out, when less than the host has (or the host cannot tell). */
    capacity: z.strictObject({ cpu: quantitySchema.optional(), memory: quantitySchema.optional() }).optional(),
  })
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    spec.taints?.forEach((taint, index) => {
      const identity = `${taint.key}:${taint.effect}`;
      if (seen.has(identity)) {
        ctx.addIssue({ code: "custom", path: ["taints", index], message: `duplicate taint ${identity}` });
      }
      seen.add(identity);
    });
  });

export const nodeKind = defineKind({
  kind: "Node",
  apiVersions: CORE_V1,
  namespaced: false,
  fields: { spec: nodeSpecSchema },
  specOf: (manifest) => manifest.spec,
});
export type Node = z.infer<typeof nodeKind.schema>;
export type NodeSpec = z.infer<typeof nodeSpecSchema>;
