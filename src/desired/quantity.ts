import { z } from "zod";

/**
 * Kubernetes resource quantities ("500m", "0.5", "2", "128Mi", "1G", "1e3").
 * The scheduler adds them up, so they are turned into plain numbers here:
 * CPU in millicores, memory in bytes, each rounded up as Kubernetes does.
 */

const binarySuffixes: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const decimalSuffixes: Record<string, number> = {
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

// The exponent form is tried before the bare "E" (exa) suffix, so "1E3" is 1000.
const quantityPattern = /^([+-]?)(\d+\.?\d*|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$/;

/** The value of a quantity in its base unit (cores, bytes), or undefined when it is not a quantity. */
export function parseQuantity(quantity: string | number): number | undefined {
  const match = quantityPattern.exec(String(quantity));
  if (!match) return undefined;
  const [, sign, digits, exponent, suffix] = match;
  const magnitude = Number(digits);
  const scale = exponent !== undefined ? 10 ** Number(exponent.slice(1)) : (binarySuffixes[suffix ?? ""] ?? decimalSuffixes[suffix ?? ""]!);
  const value = (sign === "-" ? -1 : 1) * magnitude * scale;
  return Number.isFinite(value) ? value : undefined;
}

function requireQuantity(quantity: string | number): number {
  const value = parseQuantity(quantity);
  if (value === undefined) throw new RangeError(`${JSON.stringify(quantity)} is not a resource quantity`);
  return value;
}

// Products such as 0.1 * 1000 land a hair above the integer; round that noise away before rounding up.
function roundUp(value: number): number {
  return Math.ceil(Number(value.toPrecision(15)));
}

/** CPU in millicores: "500m" → 500, "0.5" → 500, "2" → 2000. */
export function parseCpuMillis(quantity: string | number): number {
  return roundUp(requireQuantity(quantity) * 1000);
}

/** Memory or storage in bytes: "128Mi" → 134217728, "1G" → 1000000000. */
export function parseBytes(quantity: string | number): number {
  return roundUp(requireQuantity(quantity));
}

/**
 * A non-negative quantity, written as a string or (as YAML allows) a number;
 * stored as the string the user wrote so that specs round-trip unchanged.
 */
export const quantitySchema = z.union([z.string(), z.number()]).transform((raw, ctx) => {
  const value = parseQuantity(raw);
  if (value === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(raw)} is not a quantity: expected a number with an optional suffix such as "500m", "2", "128Mi" or "1G"`,
    });
    return z.NEVER;
  }
  if (value < 0) {
    ctx.addIssue({ code: "custom", message: "must be greater than or equal to 0" });
    return z.NEVER;
  }
  return String(raw);
});
