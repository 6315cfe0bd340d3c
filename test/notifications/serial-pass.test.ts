import { describe, expect, it } from "vitest";
import { SerialPass } from "../../src/notifications/serial-pass.ts";

/** The dispatcher's and worker's pass discipline: one at a time, kicks during a pass folded into one more. */
describe("SerialPass", () => {
  it("runs one pass at a time and folds every kick during a pass into exactly one more", async () => {
    const releases: Array<() => void> = [];
    let running = 0;
    let most = 0;
    let runs = 0;
    const passes = new SerialPass(async () => {
      runs++;
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
    }, () => true);
    passes.kick();
    passes.kick();
    passes.kick();
    expect(runs).toBe(1);
    releases.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toBe(2);
    releases.shift()!();
    await passes.settled();
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toBe(2);
    expect(most).toBe(1);
  });

  it("starts nothing once its owner is no longer active", async () => {
    let active = true;
    let runs = 0;
    const passes = new SerialPass(async () => void runs++, () => active);
    passes.kick();
    await passes.settled();
    active = false;
    passes.kick();
    await passes.settled();
    expect(runs).toBe(1);
  });
});
