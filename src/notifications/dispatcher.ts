import type { Logger } from "../logging.ts";
import { messageOf } from "../errors.ts";
import type { PgNotificationOutbox } from "./outbox-pg.ts";
import { SerialPass } from "./serial-pass.ts";

export interface DispatcherOptions {
  outbox: PgNotificationOutbox;
  log: Logger;
  /**
   * A pass also runs this often unasked: a fact committed while an older
   * transaction was still open lies beyond the horizon when its NOTIFY
   * arrives, and is picked up by a later pass (default 2 s).
   */
  intervalMs?: number;
}

/**
 * Turns new facts (events, rejected revisions) into outbox deliveries,
 * one pass at a time: kicked on their NOTIFY and on a timer. It reads what
 * the reconcilers already wrote and never sits in their way.
 */
export class Dispatcher {
  readonly #options: DispatcherOptions;
  #stopped = false;
  readonly #passes = new SerialPass(() => this.#run(), () => !this.#stopped);
  #timer: NodeJS.Timeout | undefined;
  #onDispatched: (added: number) => void = () => undefined;

  constructor(options: DispatcherOptions) {
    this.#options = options;
  }

  /** `onDispatched` is told how many deliveries each pass added (the worker wakes on their NOTIFY anyway). */
  start(onDispatched?: (added: number) => void): void {
    if (onDispatched) this.#onDispatched = onDispatched;
    this.#timer = setInterval(() => this.kick(), this.#options.intervalMs ?? 2_000);
    this.#timer.unref();
    this.kick();
  }

  kick(): void {
    this.#passes.kick();
  }

  /** Resolves once the pass under way (if any) has committed or rolled back. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#passes.settled();
  }

  /** One pass now, for tests and callers that need the outbox up to date. */
  async dispatchNow(): Promise<number> {
    return this.#options.outbox.dispatch();
  }

  async #run(): Promise<void> {
    try {
      const added = await this.#options.outbox.dispatch();
      if (added > 0) this.#onDispatched(added);
    } catch (error) {
      if (!this.#stopped) this.#options.log.warn({ err: messageOf(error) }, "notification dispatch failed; the next pass retries");
    }
  }
}
