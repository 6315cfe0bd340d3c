import { isIP } from "node:net";
import { z } from "zod";

/**
 * The string formats Kubernetes validates, with its messages, so that a user
 * who knows `kubectl` reads the same words here.
 */

const dns1123LabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123SubdomainPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1035LabelPattern = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const qualifiedNamePattern = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const configKeyPattern = /^[-._a-zA-Z0-9]+$/;
const envVarNamePattern = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
// A missing name is the common slip; zod's "expected string, received undefined" says it less plainly.
const requiredString = () =>
  z.string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") });

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function dns1123Label(maxLength = 63) {
  return requiredString()
    .max(maxLength, `must be no more than ${maxLength} characters`)
    .regex(
      dns1123LabelPattern,
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
    );
}

export function dns1123Subdomain(maxLength = 253) {
  return requiredString()
    .max(maxLength, `must be no more than ${maxLength} characters`)
    .regex(
      dns1123SubdomainPattern,
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
    );
}

/** Service names become DNS names and environment variable prefixes, hence the leading letter. */
export function dns1035Label(maxLength = 63) {
  return requiredString()
    .max(maxLength, `must be no more than ${maxLength} characters`)
    .regex(
      dns1035LabelPattern,
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
    );
}

/** Why a label or annotation key is invalid, or undefined when it is valid: `[prefix/]name`. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "a qualified name must be of the form [prefix/]name with at most one '/'";
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  const prefix = parts.length === 2 ? parts[0]! : undefined;
  if (prefix !== undefined) {
    if (prefix.length === 0) return "the prefix part of a qualified name must be non-empty";
    if (prefix.length > 253 || !dns1123SubdomainPattern.test(prefix)) {
      return "the prefix part of a qualified name must be a lowercase RFC 1123 subdomain";
    }
  }
  if (name.length === 0) return "the name part of a qualified name must be non-empty";
  if (name.length > 63) return "the name part of a qualified name must be no more than 63 characters";
  if (!qualifiedNamePattern.test(name)) {
    return "the name part of a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

export const labelKeySchema = z.string().superRefine((key, ctx) => {
  const problem = qualifiedNameProblem(key);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

export const labelValueSchema = z
  .string({ error: "must be a string (quote numbers and booleans in YAML)" })
  .max(63, "a label value must be no more than 63 characters")
  .regex(
    labelValuePattern,
    "a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  );

/** A string where YAML would otherwise silently hand us a number or a boolean. */
export const stringValueSchema = z.string({ error: "must be a string (quote numbers and booleans in YAML)" });

/** Keys of ConfigMap and Secret data: they become file names, so no slashes. */
export const configKeySchema = z
  .string()
  .max(253, "a config key must be no more than 253 characters")
  .regex(configKeyPattern, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
  .refine((key) => key !== "." && key !== "..", "a config key must not be '.' or '..'");

export const envVarNameSchema = z
  .string()
  .regex(
    envVarNamePattern,
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
  );

/** Whether a string is canonical, padded base64 (what Kubernetes accepts in Secret `data`). */
export function isBase64(text: string): boolean {
  return base64Pattern.test(text);
}

/** IANA_SVC_NAME: the form a named port takes, so that it can be referred to by name. */
export function portNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 15) return "a port name must be 1 to 15 characters";
  if (!/^[a-z0-9-]+$/.test(name)) return "a port name must contain only lowercase alphanumeric characters or '-'";
  if (!/[a-z]/.test(name)) return "a port name must contain at least one letter";
  if (name.includes("--")) return "a port name must not contain consecutive hyphens";
  if (name.startsWith("-") || name.endsWith("-")) return "a port name must not begin or end with a hyphen";
  return undefined;
}

export const portNameSchema = z.string().superRefine((name, ctx) => {
  const problem = portNameProblem(name);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

export const portNumberSchema = z
  .number()
  .int("a port must be an integer")
  .min(1, "a port must be between 1 and 65535, inclusive")
  .max(65535, "a port must be between 1 and 65535, inclusive");

/** A port given by number or by the name of a container port. */
export const portNumberOrNameSchema = z.union([portNumberSchema, portNameSchema]);

export const ipAddressSchema = z
  .string()
  .refine((address) => isIP(address) !== 0, "must be a valid IPv4 or IPv6 address");

/** An absolute path: where mounts and host paths live on the node. */
export const absolutePathSchema = z.string().refine((path) => path.startsWith("/"), "must be an absolute path");

/** A relative path that cannot climb out of the directory it is joined to. */
export const relativePathSchema = z
  .string()
  .min(1, "must not be empty")
  .refine((path) => !path.startsWith("/"), "must be a relative path")
  .refine((path) => !path.split("/").includes(".."), "must not contain '..'");

export const nonNegativeInt = z.number().int("must be an integer").min(0, "must be greater than or equal to 0");
export const positiveInt = z.number().int("must be an integer").min(1, "must be greater than or equal to 1");
