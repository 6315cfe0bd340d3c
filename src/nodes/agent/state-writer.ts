import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import { saveState, type AgentState } from "./state.ts";

/**
 * Writes the agent's state file, one write at a time: saves asked for while
 * one is queued are served by it. A failed write (a full disk, say) is kept
 * in `lastError` and logged once per distinct message; the pods keep
 * running, and the write is tried again every `retryMs` until one succeeds
 * and clears it: a disk that frees up must get the current state without
 * waiting for some unrelated change to ask for a write.
 */
export class StateWriter {
  readonly #stateDir: string;
  readonly #log: Logger;
  /** Read at write time, so a queued write carries every change made before it runs. */
  readonly #state: () => AgentState;
  #saving: Promise<void> = Promise.resolve();
  #saveQueued = false;
  #lastError: string | undefined;
  readonly #clock: Clock;
  readonly #retryMs: number;
  #retrying = false;
  readonly #closed = new AbortController();

  constructor(options: { stateDir: string; log: Logger; state: () => AgentState; clock: Clock; retryMs?: number }) {
    this.#stateDir = options.stateDir;
    this.#log = options.log;
    this.#state = options.state;
    this.#clock = options.clock;
    this.#retryMs = options.retryMs ?? 5_000;
  }

  /** Stops retrying a failed write (the agent is closing). */
  close(): void {
    this.#closed.abort();
  }

  /** Why the last write failed, while it keeps failing. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Queues a write, unless one is queued already and not yet begun. */
  scheduleSave(): void {
    if (this.#saveQueued) return;
    this.#saveQueued = true;
    this.#saving = this.#saving.then(async () => {
      this.#saveQueued = false;
      await this.#write();
    });
  }

  /** Writes now (after any write under way) and throws if that write failed. */
  async saveNow(): Promise<void> {
    this.scheduleSave();
    await this.#saving;
    if (this.#lastError) throw new Error(`could not write the agent state: ${this.#lastError}`);
  }

  async #write(): Promise<void> {
    try {
      await saveState(this.#stateDir, this.#state());
      if (this.#lastError) this.#log.info("agent state written again");
      this.#lastError = undefined;
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.#lastError) this.#log.error({ err: error }, "could not write the agent state; pods keep running");
      this.#lastError = message;
      void this.#retryLater();
    }
  }

  async #retryLater(): Promise<void> {
    if (this.#retrying || this.#closed.signal.aborted) return;
    this.#retrying = true;
    await this.#clock.sleep(this.#retryMs, this.#closed.signal);
    this.#retrying = false;
    if (!this.#closed.signal.aborted && this.#lastError) this.scheduleSave();
  }
}
