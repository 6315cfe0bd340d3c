/**
 * One pass at a time, never a pass missed: a kick while a pass runs makes it
 * run once more when it ends (however many kicks came), so a change that
 * arrived mid-pass is always seen. The dispatcher and the delivery worker
 * both run this way, woken by NOTIFY and timers.
 */
export class SerialPass {
  #pass: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly run: () => Promise<void>,
    /** Checked before each pass: false once its owner stops. */
    private readonly active: () => boolean,
  ) {}

  kick(): void {
    if (!this.active()) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    this.#pass = this.run().finally(() => {
      this.#pass = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /** Resolves once the pass under way, if any, has ended. */
  async settled(): Promise<void> {
    await this.#pass;
  }
}
