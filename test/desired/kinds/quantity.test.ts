import { describe, expect, it } from "vitest";
import { parseBytes, parseCpuMillis, parseQuantity, quantitySchema } from "../../../src/desired/kinds/index.ts";

describe("resource quantities", () => {
  it.each([
    ["500m", 500],
    ["0.5", 500],
    ["2", 2000],
    [2, 2000],
    [0.25, 250],
    ["1e3", 1_000_000],
    ["0.1", 100],
    ["1.", 1000],
    [".5", 500],
    // Kubernetes rounds a fraction of a millicore up.
    ["0.0001", 1],
  ] as const)("CPU %j is %i millicores", (quantity, millis) => {
    expect(parseCpuMillis(quantity)).toBe(millis);
  });

  it.each([
    ["128Mi", 134_217_728],
    ["1Gi", 1_073_741_824],
    ["1G", 1_000_000_000],
    ["1k", 1000],
    ["1Ki", 1024],
    ["1E3", 1000],
    ["1E", 1e18],
    ["1.5Gi", 1_610_612_736],
    [1024, 1024],
    // A fraction of a byte rounds up to a whole byte.
    ["500m", 1],
  ] as const)("memory %j is %i bytes", (quantity, bytes) => {
    expect(parseBytes(quantity)).toBe(bytes);
  });

  it.each(["", "1.2.3", "12 Mi", "1MB", "1mi", "Mi", "1e", "1e400", "--1", "0x10"])("%j is not a quantity", (text) => {
    expect(parseQuantity(text)).toBeUndefined();
    expect(() => parseBytes(text)).toThrow(/is not a resource quantity/);
  });

  it("validates at the field's path and keeps what the user wrote", () => {
    expect(quantitySchema.parse("250m")).toBe("250m");
    expect(quantitySchema.parse(2)).toBe("2");
    const result = quantitySchema.safeParse("-1");
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/greater than or equal to 0/);
    expect(quantitySchema.safeParse("lots").error?.issues[0]?.message).toMatch(/"lots" is not a quantity/);
  });
});
